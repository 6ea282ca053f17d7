"""`fetcher bench`: a tiny real run, its report formats and its plot."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetcher.cli.app import app
from fetcher.tools.bench import BenchError, BenchSettings, ConfigResult
from fetcher.tools.benchreport import plot_report
from tests.support.extras import fetcher_without
from tests.support.local import LocalServer

runner = CliRunner()

FIELDS = {
    "executor", "workers", "pages", "runs", "wall_median", "wall_min", "wall_max",
    "pages_per_second", "efficiency", "first_median", "cpu_median", "peak_rss_mib",
    "failures", "server_cpu_median", "walls", "cpu_per_url_ms",
}  # fmt: skip


def test_a_tiny_local_run_reports_every_configuration(tmp_path: Path) -> None:
    plot = tmp_path / "bench.png"
    result = runner.invoke(
        app,
        ["bench", "--local", "--workers", "1,4", "--pages", "8", "--latency-ms", "20",
         "--repeat", "1", "--format", "json", "--plot", str(plot)],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["executor"], r["workers"]) for r in report] == [  # in the order asked
        (executor, workers)
        for executor in ("thread", "process", "hybrid", "async")
        for workers in (1, 4)
    ]
    for row in report:
        assert set(row) == FIELDS
        assert (row["pages"], row["runs"], row["failures"]) == (8, 1, 0)
        assert len(row["walls"]) == 1 and row["wall_min"] <= row["wall_median"] <= row["wall_max"]
        ideal = 8 * 0.020 / row["workers"]
        assert row["efficiency"] == pytest.approx(ideal / row["wall_median"])
        assert 0 < row["efficiency"] <= 1.05
        assert 0 < row["first_median"] <= row["wall_median"]
        assert row["cpu_median"] > 0 and row["peak_rss_mib"] > 5
        assert row["server_cpu_median"] is not None and row["server_cpu_median"] >= 0
    process_rss = max(r["peak_rss_mib"] for r in report if r["executor"] == "process")
    thread_rss = max(r["peak_rss_mib"] for r in report if r["executor"] == "thread")
    assert process_rss > thread_rss  # the worker processes are counted
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "[8/8]" in result.stderr  # progress lines


def test_the_scan_preset_checks_certificates_on_hosts_of_their_own() -> None:
    pytest.importorskip("trustme")
    result = runner.invoke(
        app,
        ["bench", "--local", "--preset", "scan", "--pages", "12", "--workers", "4,300",
         "--repeat", "1", "--executors", "thread,process,curl"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "each on a TLS host of its own, certificates checked" in lines[0]
    rows = [line.split() for line in lines[3:8]]
    assert [(row[0], row[1]) for row in rows] == [  # no process pool at more than 64
        ("thread", "4"), ("thread", "300"), ("process", "4"), ("curl", "4"), ("curl", "300"),
    ]  # fmt: skip
    assert all(row[2] == "12" and row[-2] == "0" for row in rows)  # 12 pages, none failed
    assert "x curl's" in lines[-2]


def test_failing_hosts_are_for_the_scan_preset_only() -> None:
    result = runner.invoke(app, ["bench", "--local", "--failures", "0.1"])
    assert result.exit_code == 2 and "applies with --preset scan only" in result.stderr


def test_a_url_list_is_measured_without_an_ideal(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/bench/page", "<title>bench</title>")
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{url}\n" * 5)
    result = runner.invoke(
        app, ["bench", str(urls), "--workers", "4,2", "--repeat", "1", "--executors",
              "thread,httpx", "--format", "csv", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row["executor"], row["workers"]) for row in rows] == [
        ("thread", "4"), ("thread", "2"), ("httpx", "4"), ("httpx", "2"),
    ]  # fmt: skip
    assert all(row["pages"] == "5" and row["efficiency"] == "" for row in rows)
    assert all(row["server_cpu_median"] == "" for row in rows)


def test_the_text_table_has_a_row_per_configuration() -> None:
    from fetcher.tools.benchreport import format_report

    row = ConfigResult(
        "thread", 8, 100, 3, 1.0, 0.9, 1.2, 100.0, 0.95, 0.1, 0.5, 5.0, 40.0, 0, 0.01
    )  # fmt: skip
    table = format_report([row], "text").splitlines()
    assert table[0].split()[:4] == ["executor", "workers", "pages", "median"]
    assert table[1].split() == [
        "thread", "8", "100", "1.00", "0.90-1.20", "100", "95%", "0.100", "0.50", "5.00", "40",
        "0", "0.01",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench"], "give a URL list or --local"),
        (["bench", "urls.txt", "--local"], "give a URL list or --local"),
        (["bench", "--local", "--executors", "thread,fibers"], "unknown executor"),
        (["bench", "--local", "--executors", "thred"], "(did you mean 'thread'?)"),
        (["bench", "--local", "--workers", "0,4"], "each count must be from 1 to 1024"),
        (["bench", "--local", "--workers", "a,b"], "not a comma-separated list"),
        (["bench", "missing.txt"], "cannot read URL list"),
    ],
)
def test_bench_usage_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_plot_without_matplotlib_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(BenchError, match=r"pip install 'fetcher\[plot\]'"):
        plot_report([], BenchSettings(), str(tmp_path / "x.png"))


def test_automatic_page_counts_aim_at_a_fixed_ideal_time() -> None:
    settings = BenchSettings(latency_ms=50)
    assert [settings.pages_for(w) for w in (1, 8, 64)] == [20, 160, 1000]
    assert BenchSettings(latency_ms=0).pages_for(1) == 1000
    assert BenchSettings(pages=77).pages_for(64) == 77


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "--local", "--plot", "/nonexistent-folder/x.png"], "no folder for"),
        (["bench", "--local", "--size-kb", "200000"], "size must be from 0 to 100000 KiB"),
        (["bench", "--local", "--latency-ms", "inf"], "must be finite numbers"),
        (["serve", "--latency-ms", "inf"], "must be finite numbers"),
        (["serve", "--write-urls", "/nonexistent-folder/u.txt"], "no folder for"),
        (["serve", "--dir", "/nonexistent-folder"], "is not a folder"),
    ],
)
def test_bench_and_serve_reject_bad_values_before_starting(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_the_text_report_gives_the_conditions_and_the_best_configuration() -> None:
    from fetcher.tools.benchreport import format_report

    rows = [
        ConfigResult("thread", 8, 100, 3, 1.0, 0.9, 1.2, 100.0, 0.95, 0.1, 0.5, 5, 40.0, 0, 0.01),
        ConfigResult("process", 8, 100, 3, 2.0, 1.9, 2.2, 50.0, 0.5, 0.1, 0.5, 5, 90.0, 0, 0.01),
        ConfigResult("curl", 8, 100, 3, 0.5, 0.4, 0.6, 200.0, 0.99, 0.1, 0.1, 1, 9.0, 0, 0.01),
    ]
    settings = BenchSettings(executors=("thread", "process", "curl"), workers=(8,), repeat=3)
    lines = format_report(rows, "text", settings).splitlines()
    assert lines[0].startswith("conditions: local server, 50 ms latency, 20 KiB pages, ")
    assert f"{os.cpu_count()} cores, Python {platform.python_version()}" in lines[0]
    assert [line.split()[0] for line in lines[3:6]] == ["thread", "process", "curl"]
    assert lines[-2] == "best: thread with 8 workers, 100 pages/s, 95% of ideal, 0.50 x curl's"
    assert lines[-1] == "best baseline: curl with 8 workers, 200 pages/s, 99% of ideal"


def test_plot_without_matplotlib_is_refused_before_running(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from fetcher.cli.app import app\n"
        "app(['bench', '--local', '--plot', sys.argv[1]])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.png")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "fetcher: error: --plot needs matplotlib: pip install 'fetcher[plot]' "
        "(see 'fetcher bench --help')\n"
    )


def test_the_plot_has_three_panels_with_readable_labels(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    rows = [
        ConfigResult(
            "thread", w, 100, 1, 1.0, 1.0, 1.0, 100.0 * w, 0.9, 0.1, 0.5, 5, 40.0 + w, 0, 0
        )
        for w in (1, 8, 64)
    ]
    saved: list[object] = []
    original = plt.Figure.savefig

    def keep(figure: object, *args: object, **kwargs: object) -> None:
        saved.append(figure)
        original(figure, *args, **kwargs)  # type: ignore[arg-type]

    plt.Figure.savefig = keep  # type: ignore[method-assign]
    try:
        plot_report(rows, BenchSettings(workers=(1, 8, 64)), str(tmp_path / "p.png"))
    finally:
        plt.Figure.savefig = original  # type: ignore[method-assign]
    (figure,) = saved
    axes = figure.get_axes()  # type: ignore[attr-defined]
    assert [a.get_ylabel() for a in axes] == [
        "pages per second", "peak memory (MiB)", "time to first result (s)",
    ]  # fmt: skip
    figure.canvas.draw()  # type: ignore[attr-defined]
    labels = [t.get_text() for t in axes[0].get_yticklabels() if t.get_text()]
    assert labels and not any("$" in label or "10^" in label for label in labels)
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")


def test_the_scan_preset_without_trustme_names_the_extra_before_any_run() -> None:
    done = fetcher_without("trustme", "bench", "--local", "--preset", "scan")
    assert done.returncode == 2
    assert "pip install 'fetcher[tls]'" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
