"""One benchmark configuration, run in a child process of its own.

`python -m fetcher.tools.benchrun URLS EXECUTOR WORKERS TIMEOUT [CACERT]` fetches every URL of the
file and prints one JSON object: wall time, time to the first result, failures, and the
CPU time and peak RSS of this process and its descendants (the pool's workers) measured
when the last result is in. A fresh process per configuration makes the peak its own
and keeps one configuration's warm caches out of the next.

Executors: `thread` and `process` are fetcher's real pipeline (`fetch_all`: pool
start-up, HTTP, title extraction, results). Two baselines run the same list without
fetcher: `httpx`, a plain thread pool of per-thread httpx clients that reads each body
and parses nothing, and `curl`, `curl --parallel`. With CACERT, all three trust only that
CA file's certificates (and check them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from fetcher import fetch_all, read_urls

from .proctree import TreeUsage, tree_usage

__all__ = ["BASELINES", "run_configuration"]

BASELINES = ("httpx", "curl")


def run_configuration(
    url_file: str, executor: str, workers: int, timeout: float, cacert: str | None = None
) -> dict[str, Any]:
    """Fetch the list once with `executor` and measure it."""
    urls = list(read_urls(url_file))
    started = time.perf_counter()
    if executor == "httpx":
        first, failures, usage = _plain_httpx(urls, workers, timeout, started, cacert)
    elif executor == "curl":
        first, failures, usage = _curl(urls, workers, timeout, started, cacert)
    else:
        first, failures, usage = _fetcher(urls, executor, workers, timeout, started, cacert)
    wall = time.perf_counter() - started
    return {
        "executor": executor,
        "workers": workers,
        "pages": len(urls),
        "wall": wall,
        "first": first,
        "failures": failures,
        "cpu": usage.cpu_seconds,
        "rss": usage.peak_rss_bytes,
    }


def _fetcher(
    urls: list[str], executor: str, workers: int, timeout: float, started: float, cacert: str | None
) -> tuple[float, int, Any]:
    first = 0.0
    failures = 0
    usage = None
    # Pools are measured, not politeness: no per-origin cap (all pages share one origin)
    # and no retries, so every configuration makes exactly one request per page.
    run = fetch_all(
        urls, workers=workers, executor=executor, timeout=timeout, per_host=0, retries=0,
        cacert=cacert,
    )  # fmt: skip
    for count, result in enumerate(run, 1):
        if count == 1:
            first = time.perf_counter() - started
        failures += not result.ok
        if count == len(urls):
            usage = tree_usage()  # before the pool shuts down: its workers still count
            break
    run.close()
    return first, failures, usage or tree_usage()


def _plain_httpx(
    urls: list[str], workers: int, timeout: float, started: float, cacert: str | None
) -> tuple[float, int, Any]:
    import ssl

    import httpx

    local = threading.local()
    verify: ssl.SSLContext | bool = True
    if cacert is not None:
        verify = ssl.create_default_context(cafile=cacert)  # one for all threads

    def get(url: str) -> bool:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=timeout, trust_env=False, verify=verify)
        try:
            response = client.get(url, follow_redirects=True)
            return bool(response.content is not None and response.status_code < 400)
        except httpx.HTTPError:
            return False

    first = 0.0
    failures = 0
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(get, url) for url in urls]
        for count, future in enumerate(as_completed(futures), 1):
            if count == 1:
                first = time.perf_counter() - started
            failures += not future.result()
        usage = tree_usage()
    return first, failures, usage


def _curl(
    urls: list[str], workers: int, timeout: float, started: float, cacert: str | None
) -> tuple[float, int, Any]:
    import resource

    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("curl is not installed")
    with tempfile.NamedTemporaryFile("w", suffix=".curl") as config:
        config.writelines(f'url = "{url}"\noutput = "/dev/null"\n' for url in urls)
        config.flush()
        command = [curl, "--parallel", "--parallel-immediate", "--parallel-max", str(workers)]
        command += ["--silent", "--max-time", str(timeout), "--compressed", "--noproxy", "*"]
        command += ["--write-out", "%{http_code}\n", "--config", config.name]
        command += ["--cacert", cacert] if cacert else []
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        first = 0.0
        failures = 0
        for count, line in enumerate(process.stdout, 1):
            if count == 1:
                first = time.perf_counter() - started
            failures += not line.strip().isdigit() or int(line) >= 400 or int(line) == 0
        process.wait()
    own = tree_usage()  # counts curl's CPU: it has ended and been waited for
    curl_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return first, failures, TreeUsage(own.cpu_seconds, own.peak_rss_bytes + curl_rss, 2)


def main() -> None:
    url_file, executor, workers, timeout = sys.argv[1:5]
    cacert = sys.argv[5] if len(sys.argv) > 5 else None
    result = run_configuration(url_file, executor, int(workers), float(timeout), cacert)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
