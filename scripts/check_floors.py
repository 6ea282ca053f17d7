"""Prove that the lowest versions pyproject.toml allows make a working fetcher.

    python scripts/check_floors.py

The floors are pinned in scripts/floors.txt, a pip constraints file; this script first
checks that it pins exactly the `>=` floor of every dependency in pyproject.toml (so the
two cannot drift), then installs fetcher with those pins into a fresh virtualenv and
runs `fetcher --help` and a fetch of two pages from `fetcher serve` on 127.0.0.1.
Exit status 0 when all holds; CI runs it (`.ci/run`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ROOT / "scripts" / "floors.txt"
_FLOOR = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def declared_floors() -> dict[str, str]:
    """`name: floor` for every dependency of pyproject.toml (each must have a floor)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = _FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"no >= floor in dependency {requirement!r}")
        floors[match.group(1).lower()] = match.group(2)
    return floors


def pinned_floors() -> dict[str, str]:
    pins = {}
    for line in FLOORS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _same(a: str | None, b: str) -> bool:
    """Equal versions, trailing zeros aside (0.28 is 0.28.0)."""
    if a is None:
        return False
    strip = lambda version: version.split(".") + ["0"] * (4 - version.count(".") - 1)  # noqa: E731
    return strip(a) == strip(b)


def run(*command: str | Path, **kwargs: object) -> str:
    print("+", " ".join(str(part) for part in command), flush=True)
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed with exit status {done.returncode}")
    return str(done.stdout)


def main() -> int:
    declared, pinned = declared_floors(), pinned_floors()
    missing = {
        name: version for name, version in declared.items() if not _same(pinned.get(name), version)
    }
    if missing:
        for name, version in missing.items():
            print(f"scripts/floors.txt must pin {name}=={version} (the floor in pyproject.toml)")
        return 1
    with tempfile.TemporaryDirectory(prefix="fetcher-floors-") as folder:
        venv = Path(folder) / "venv"
        run(sys.executable, "-m", "venv", venv)
        python, fetcher = venv / "bin" / "python", venv / "bin" / "fetcher"
        run(python, "-m", "pip", "install", "-q", "-c", FLOORS, ROOT)
        print(run(python, "-m", "pip", "list", "--format=freeze"), end="")
        run(fetcher, "--help")
        urls = Path(folder) / "urls.txt"
        with subprocess.Popen(
            [fetcher, "serve", "--pages", "2", "--write-urls", urls], stdout=subprocess.PIPE
        ) as server:
            try:
                assert server.stdout is not None
                server.stdout.readline()  # the base URL: the list is written
                out = run(fetcher, urls, "-f", "jsonl", "-q", timeout=60)
            finally:
                server.terminate()
    if len(out.splitlines()) != 2 or '"status": 200' not in out:
        print(f"unexpected records:\n{out}")
        return 1
    print("floors OK:", ", ".join(f"{name}=={version}" for name, version in declared.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
