"""A corporate TLS-inspecting proxy on loopback, for the tests of proxy and CA settings.

It answers ``CONNECT host:443``, then terminates TLS itself with a certificate for ``host`` signed
by its own CA (which a client trusts only with that CA in its bundle), and forwards the decrypted
bytes to a loopback server standing in for ``host``. It records every host asked for, and can ask
for credentials (407) as authenticating proxies do.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Upstream:
    """The loopback server that stands in for a host; ``tls``: it serves HTTPS itself."""

    port: int
    tls: bool = False


class CertificateAuthority:
    """A CA made for the test, issuing server certificates on demand."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Inspecting Proxy CA")])
        self._name = name
        self._certificate = (
            _builder(name, name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        self.bundle = directory / "proxy-ca.pem"
        self.bundle.write_bytes(self._certificate.public_bytes(serialization.Encoding.PEM))

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context with a certificate for ``host``."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
        certificate = (
            _builder(subject, self._name, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / f"{host}.pem", self.directory / f"{host}.key"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        return context


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


@dataclass
class InspectingProxy:
    """The proxy: ``upstreams`` maps each host it serves to its stand-in."""

    authority: CertificateAuthority
    upstreams: dict[str, Upstream]
    credentials: tuple[str, str] | None = None
    hosts_seen: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> InspectingProxy:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        """Stop listening, and end the tunnels still open (clients keep them alive)."""
        for writer in list(self._open):
            writer.transport.abort()  # no TLS goodbye: it may wait 30 s for the peer
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The proxy's URL, with credentials if given."""
        credentials = f"{user}:{password}@" if user else ""
        return f"http://{credentials}127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._tunnel(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # a client that gave up, e.g. on our certificate: what the tests look at
        finally:
            self._open.discard(writer)
            writer.transport.abort()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
        host = target.rsplit(":", 1)[0]
        if method != "CONNECT" or not self._authorized(head):
            self.refused.append(host)
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n'
            )
            await writer.drain()
            return
        self.hosts_seen.append(host)
        upstream = self.upstreams.get(host)
        if upstream is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await writer.start_tls(self._context(host))
        await self._forward(reader, writer, upstream)

    def _authorized(self, head: str) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return f"proxy-authorization: basic {expected}".lower() in head.lower()

    def _context(self, host: str) -> ssl.SSLContext:
        if host not in self._contexts:
            self._contexts[host] = self.authority.server_context(host)
        return self._contexts[host]

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream
    ) -> None:
        context = None
        if upstream.tls:  # the stand-in's own certificate is made for 127.0.0.1: not checked
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", upstream.port, ssl=context
        )
        self._open.add(up_writer)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
