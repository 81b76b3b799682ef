"""The guard that keeps tests on loopback works."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from aiohttp import ClientSession

from tests.support.network_guard import NetworkGuardError


def test_connecting_outside_loopback_fails():
    with socket.socket() as sock, pytest.raises(NetworkGuardError):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed, and never tried


def test_resolving_a_public_name_fails():
    with pytest.raises(NetworkGuardError):
        socket.getaddrinfo("login.botframework.com", 443)


def test_urllib_cannot_reach_out():
    with pytest.raises(NetworkGuardError):
        urllib.request.urlopen("https://login.botframework.com/v1/.well-known/keys", timeout=1)


async def test_aiohttp_cannot_reach_out():
    async with ClientSession() as session:
        with pytest.raises(NetworkGuardError):
            await session.get("https://smba.trafficmanager.net/emea/")


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
