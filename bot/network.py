"""Outbound connections: the corporate proxy and CA bundle, and errors that name the hop.

Every outbound client honours ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY`` from the process
environment (aiohttp with ``trust_env``, requests and urllib by themselves). The CA bundle is one
file (``Settings.ca_bundle``): :func:`export_network_settings` names it under both ``SSL_CERT_FILE``
and ``REQUESTS_CA_BUNDLE``, so that the libraries built on requests and urllib trust it, and our
aiohttp sessions get it as their SSL context (aiohttp's default context is made at import, before
any setting is read).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from bot.config import CA_VARIABLES, Settings


def export_network_settings(settings: Settings) -> None:
    """Put the proxy variables (from .env too) and the CA bundle, under both of its names, in
    the process environment, where every client library reads them when it connects."""
    for name, value in settings.proxy.items():
        os.environ.setdefault(name, value)
    if settings.ca_bundle is not None:
        for name in CA_VARIABLES:
            os.environ[name] = settings.ca_bundle


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The TLS context of our aiohttp sessions: the bundle's CAs, else the system's."""
    return ssl.create_default_context(cafile=ca_bundle)


def client_session(ca_bundle: str | None, **options: object) -> aiohttp.ClientSession:
    """An aiohttp session that honours the proxy variables and trusts ``ca_bundle``."""
    connector = aiohttp.TCPConnector(ssl=ssl_context(ca_bundle), ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, trust_env=True, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NetworkProblem:
    """A failed hop, said with its host and the likely fix."""

    text: str
    lasting: bool
    """A setting must change (an untrusted certificate, proxy credentials): retrying is vain."""

    def __str__(self) -> str:
        return self.text


def network_problem(error: BaseException, host: str | None = None) -> NetworkProblem | None:
    """What failed on the way to ``host`` and the likely fix, for a TLS, proxy or DNS failure;
    None for anything else. Never the error's own text: it may hold the proxy's credentials."""
    chain = list(_causes(error))
    text = " ".join(f"{type(e).__name__} {e}" for e in chain)
    host = host or _host_in(chain, text) or "the server"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or (
        "CERTIFICATE_VERIFY_FAILED" in text
    ):
        return NetworkProblem(
            f"TLS: the certificate of {host} is not trusted: add the CA that signs it (a "
            "TLS-inspecting proxy's own) to the bundle in SSL_CERT_FILE",
            lasting=True,
        )
    if re.search(r"\b407\b", text):
        return NetworkProblem(
            f"the proxy refused to connect to {host} (407 Proxy Authentication Required): put "
            "its credentials in HTTPS_PROXY (http://user:password@proxy:port)",
            lasting=True,
        )
    if _is_dns_failure(chain, text):
        return NetworkProblem(
            f"DNS: {host} cannot be resolved: check DNS, or HTTPS_PROXY and NO_PROXY",
            lasting=False,
        )
    proxy_down = isinstance(error, aiohttp.ClientProxyConnectionError)
    if proxy_down or "Unable to connect to proxy" in text:
        return NetworkProblem(
            f"the proxy for {host} does not answer: check HTTPS_PROXY and NO_PROXY", lasting=False
        )
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and azure-core's inner exceptions, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = getattr(current, "inner_exception", None)
        pending += [current.__cause__, current.__context__]
        pending += [inner] if isinstance(inner, BaseException) else []
        pending += [a for a in current.args if isinstance(a, BaseException)]


def _host_in(chain: list[BaseException], text: str) -> str | None:
    """The host the failed request was for: aiohttp's errors carry it, requests' their request."""
    for error in chain:
        host = getattr(error, "host", None)
        if isinstance(host, str) and host:
            return host
        url = getattr(getattr(error, "request", None), "url", None)
        if isinstance(url, str) and urlsplit(url).hostname:
            return urlsplit(url).hostname
    found = re.search(r"host='([^']{1,253})'", text)
    return found[1] if found else None


def _is_dns_failure(chain: list[BaseException], text: str) -> bool:
    return any(isinstance(e, socket.gaierror) for e in chain) or any(
        marker in text
        for marker in ("NameResolutionError", "Name or service not known", "name resolution")
    )
