"""Requests to Azure DevOps, and what their answers become: JSON, or a :class:`DeployError`
that names the cause and never the credentials."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.metrics import DEVOPS_REQUEST_SECONDS
from bot.network import network_problem
from bot.pipelines.azure_devops.auth import DevOpsAuth
from bot.pipelines.azure_devops.bodies import trim
from bot.pipelines.deployer import DeployError, DeployErrorCode
from bot.retrying import retry_after

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
VERSION_OUT_OF_RANGE = "VssVersionOutOfRangeException"
"""What a server answers to an api-version newer than it knows (Azure DevOps Server 2022: 7.0)."""
STATUS_CODES = {
    401: DeployErrorCode.UNAUTHORIZED,
    403: DeployErrorCode.FORBIDDEN,
    404: DeployErrorCode.NOT_FOUND,
    408: DeployErrorCode.UNAVAILABLE,
    429: DeployErrorCode.UNAVAILABLE,
}


@dataclass(frozen=True)
class Answer:
    """A successful answer: its JSON body (None when empty) and its headers."""

    body: Any
    headers: Mapping[str, str]


class DevOpsHttp:
    """Authorised JSON requests to Azure DevOps, one api-version, one timeout."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth: DevOpsAuth,
        *,
        api_version: str,
        timeout: aiohttp.ClientTimeout,
    ) -> None:
        self._session = session
        self._auth = auth
        self._api_version = api_version
        self._timeout = timeout
        self.network_problem: str | None = None
        """Why the last request got no answer (TLS, proxy, DNS), until one gets an answer."""

    async def call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        api_version: str | None = None,
    ) -> Answer:
        """Send one request; its answer, or a DeployError for a refusal or no answer."""
        query = {**(params or {}), "api-version": api_version or self._api_version}
        authorization = await self._auth.header()
        headers = {"Authorization": authorization, "Accept": "application/json"}
        started = time.perf_counter()
        try:
            async with self._session.request(
                method,
                url,
                params=query,
                json=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                text = await response.text()
                self.network_problem = None
                log.debug("%s %s -> %d", method, urlsplit(url).path, response.status)
                if response.status >= 300 or response.status == 203:
                    raise _http_error(response.status, response.headers, text, authorization)
                return Answer(_json(text), response.headers)
        except TimeoutError:
            raise DeployError(
                DeployErrorCode.UNAVAILABLE, f"{method} {urlsplit(url).path} timed out"
            ) from None
        except aiohttp.ClientError as error:
            failed = _connection_error(error, url, authorization)
            self.network_problem = failed.detail
            raise failed from None
        finally:
            DEVOPS_REQUEST_SECONDS.labels(method=method).observe(time.perf_counter() - started)


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        raise DeployError(
            DeployErrorCode.UNAVAILABLE, "DevOps answered with a body that is not JSON"
        ) from None


def _secrets(authorization: str) -> list[str]:
    scheme, _, credential = authorization.partition(" ")
    secrets = [authorization, credential]
    if scheme.lower() == "basic":
        with contextlib.suppress(ValueError):
            secrets.append(base64.b64decode(credential).decode().partition(":")[2])
    return [s for s in secrets if len(s) >= 4]


def _scrub(text: str, authorization: str) -> str:
    for secret in _secrets(authorization):
        text = text.replace(secret, "***")
    return trim(text)


def _http_error(
    status: int, headers: Mapping[str, str], text: str, authorization: str
) -> DeployError:
    if status == 203 or 300 <= status < 400:
        # DevOps answers a bad PAT with a sign-in page (203, or a redirect) on some routes.
        return DeployError(
            DeployErrorCode.UNAUTHORIZED,
            "DevOps answered with a sign-in page: the credentials are wrong or expired",
            status=status,
        )
    kind, message = _error_body(text)
    if kind == VERSION_OUT_OF_RANGE:
        return _server_too_old(message or "", status)
    code = STATUS_CODES.get(status)
    if code is None:
        code = DeployErrorCode.UNAVAILABLE if status >= 500 else DeployErrorCode.INVALID
    described = f"{kind}: {message}" if kind and message else message
    return DeployError(
        code,
        _scrub(described or f"HTTP {status}", authorization),
        status=status,
        retry_after=retry_after(headers.get("Retry-After")),
    )


def _connection_error(error: aiohttp.ClientError, url: str, authorization: str) -> DeployError:
    """A request that got no answer: the hop that failed and its fix, where that is known."""
    problem = network_problem(error, urlsplit(url).hostname)
    if problem is None:
        detail = _scrub(f"{type(error).__name__}: {error}", authorization)
        return DeployError(DeployErrorCode.UNAVAILABLE, detail)
    code = DeployErrorCode.NETWORK if problem.lasting else DeployErrorCode.UNAVAILABLE
    return DeployError(code, str(problem))


def _error_body(text: str) -> tuple[str | None, str | None]:
    """The ``typeKey`` and ``message`` of an Azure DevOps error body, where it has them."""
    try:
        body = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return None, None
    kind = body.get("typeKey")
    return (kind if isinstance(kind, str) else None), body["message"]


def _server_too_old(message: str, status: int) -> DeployError:
    """An Azure DevOps Server older than REST API 7.1, named by the version it says it speaks."""
    found = re.search(r"supports is ([0-9][0-9A-Za-z.-]{0,20})", message)
    latest = found[1].rstrip(".") if found else "an older version"
    return DeployError(DeployErrorCode.SERVER_TOO_OLD, f"REST API {latest}", status=status)
