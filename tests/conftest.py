from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.h2 import H2Server
from tests.support.local import LocalServer
from tests.support.raw import RawServer


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 for the whole session."""
    srv = LocalServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def raw_server() -> Iterator[RawServer]:
    """A raw-bytes server on 127.0.0.1 for the whole session: routes say every byte."""
    srv = RawServer()
    yield srv
    srv.stop()


@pytest.fixture
def unanswered_connect_url() -> Iterator[str]:
    """A loopback URL whose TCP connect hangs: the listener's accept queue is full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(16):  # fill the accept queue until a connect no longer completes
        filler = socket.socket()
        filler.settimeout(0.3)
        try:
            filler.connect(("127.0.0.1", port))
        except OSError:
            filler.close()
            break
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}/"
    for sock in [*fillers, listener]:
        sock.close()


@pytest.fixture
def silent_tls_url() -> Iterator[str]:
    """An https URL whose server accepts the connection and never answers the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate and key for 127.0.0.1 (made by openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture(scope="session")
def tls_url(tls_cert: tuple[str, str]) -> Iterator[str]:
    """An https URL on 127.0.0.1 served (HTTP/1.1) with a self-signed certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    srv = LocalServer(tls=context).start()
    srv.html("/secure", "<title>Secure</title>")
    yield srv.url("/secure")
    srv.stop()


@pytest.fixture(scope="session")
def h2_server(tls_cert: tuple[str, str]) -> Iterator[H2Server]:
    """An HTTP/2-only server on 127.0.0.1 with a self-signed certificate."""
    srv = H2Server(*tls_cert)
    yield srv
    srv.stop()


@dataclass(frozen=True)
class ScanSite:
    """TLS hosts as a scan meets them: `urls[i]` on a host whose behaviour is `kinds[i]`
    ("ok", "hang", "refuse" or "slow"), certified by the CA whose PEM is `ca_pem`."""

    urls: list[str]
    kinds: list[str]
    ca_pem: bytes
    slow_seconds: float


@pytest.fixture(scope="session")
def scan_site() -> Iterator[ScanSite]:
    """`fetcher serve --tls --hosts 8` with one host of each failing kind (needs trustme)."""
    pytest.importorskip("trustme")
    from fetcher.tools.hosts import Hosts
    from fetcher.tools.serve import SiteOptions, build_site
    from tests.support.site import RunningSite

    hosts = Hosts(count=8, tls=True, hang_rate=1 / 8, refuse_rate=1 / 8, slow_rate=1 / 8,
                  slow_ms=300, seed=3)  # fmt: skip
    site = RunningSite(build_site(SiteOptions(pages=8, size_kb=2)), hosts)
    assert site.authority is not None
    yield ScanSite(site.urls(), hosts.kinds(), site.authority.ca_pem, hosts.slow_ms / 1000)
    site.close()


DASK = Path(sys.executable).with_name("dask")


@pytest.fixture(scope="session")
def scheduler_address() -> Iterator[str]:
    """A `dask scheduler` and a `dask worker --nworkers 2` on 127.0.0.1 (as shipped: each
    worker process under a nanny that restarts it), as on a real cluster, shared by every
    test that needs a cluster (skipped without the `dask` extra)."""
    distributed = pytest.importorskip("distributed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler_command = [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    worker_command = [str(DASK), "worker", address, "--nworkers", "2", "--nthreads", "4"]
    with (
        subprocess.Popen([*scheduler_command, "--no-dashboard"], **quiet) as scheduler,
        subprocess.Popen(
            [*worker_command, "--no-dashboard", "--host", "127.0.0.1"],
            start_new_session=True,  # the nannies and their workers: one group to end
            **quiet,
        ) as worker,
    ):
        try:
            with distributed.Client(address, timeout=30) as client:
                client.wait_for_workers(2, timeout=30)
            yield address
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)  # threads may wait on a hanging page
            scheduler.terminate()
            for proc in (worker, scheduler):
                proc.wait(timeout=30)
