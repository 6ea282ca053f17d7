"""Certificates for `fetcher serve --tls`: a throwaway certificate authority made at start.

`trustme` (the optional extra `fetcher[tls]`) makes the authority and its certificates in
memory; nothing is read from or left in a system trust store. Clients trust the
authority's PEM file (`fetcher --cacert FILE`, curl's `--cacert`), so a benchmark
verifies every certificate as a real scan does.

One certificate covers the addresses of one /24 (127.0.X.1 to 127.0.X.250, one IP
address entry each: about 2 KB, the size of a real site's certificate): a certificate per
address would take seconds to make for thousands of hosts, and a client verifies the
chain at every handshake whichever way the certificates are shared. ECDSA P-256 keys,
trustme's default and what most sites offer today.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

__all__ = ["TLS_EXTRA_HINT", "Authority", "MissingTLSExtra", "make_authority", "require_tls_extra"]

#: What to install for `serve --tls`.
TLS_EXTRA_HINT = "pip install 'fetcher[tls]'"


class MissingTLSExtra(RuntimeError):
    """`trustme` is not installed (`needs`: what needed it, for the message)."""

    def __init__(self, needs: str = "serve --tls") -> None:
        super().__init__(f"{needs} needs trustme: {TLS_EXTRA_HINT}")


def require_tls_extra(needs: str) -> None:
    """Raise `MissingTLSExtra` now, before any work, if `trustme` is not installed."""
    import importlib.util

    if importlib.util.find_spec("trustme") is None:
        raise MissingTLSExtra(needs)


class Authority:
    """A throwaway CA, and one server `SSLContext` per group of addresses it certifies."""

    def __init__(self, ca_pem: bytes, contexts: dict[str, ssl.SSLContext]) -> None:
        self.ca_pem = ca_pem  # the CA certificate, for the clients' trust
        self._contexts = contexts  # address -> the server context whose certificate names it

    def context_for(self, address: str) -> ssl.SSLContext:
        """The server context to listen with on `address`."""
        return self._contexts[address]


def make_authority(addresses: Iterable[str]) -> Authority:
    """A new CA with certificates naming every address in `addresses` (IP literals)."""
    try:
        import trustme
    except ImportError:
        raise MissingTLSExtra() from None
    ca = trustme.CA(organization_name="fetcher serve")
    groups: dict[str, list[str]] = {}
    for address in addresses:
        groups.setdefault(address.rpartition(".")[0], []).append(address)
    contexts: dict[str, ssl.SSLContext] = {}
    for members in groups.values():
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.set_alpn_protocols(["http/1.1"])
        ca.issue_cert(*members, common_name=members[0]).configure_cert(context)
        contexts.update(dict.fromkeys(members, context))
    return Authority(ca.cert_pem.bytes(), contexts)
