"""The network guard: a test may reach, or even resolve, loopback addresses only."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class NetworkGuardError(RuntimeError):
    """A test tried to reach an address outside loopback."""


def _is_loopback(host: Any) -> bool:
    if host in ("localhost", "localhost.", None, ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise NetworkGuardError(f"tests may not connect to {address[0]}")
        return original(sock, address)

    return connect


def _guarded_getaddrinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if not _is_loopback(host):
            raise NetworkGuardError(f"tests may not resolve {host}")
        return original(host, *args, **kwargs)

    return getaddrinfo


@contextmanager
def guarded() -> Iterator[None]:
    """Within it, connecting to (or even resolving) an address outside loopback raises."""
    patches = {
        (socket.socket, "connect"): _guarded_connect(socket.socket.connect),
        (socket.socket, "connect_ex"): _guarded_connect(socket.socket.connect_ex),
        (socket, "getaddrinfo"): _guarded_getaddrinfo(socket.getaddrinfo),
    }
    originals = {key: getattr(*key) for key in patches}
    for (owner, name), replacement in patches.items():
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
