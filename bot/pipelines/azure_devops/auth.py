"""Where the Authorization header of an Azure DevOps request comes from: a PAT or Entra."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Protocol

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError

from bot.pipelines.azure_devops.bodies import trim
from bot.pipelines.deployer import DeployError, DeployErrorCode

DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
"""The Entra scope of Azure DevOps (its well-known resource id)."""
TOKEN_REFRESH_MARGIN = 300


class DevOpsAuth(Protocol):
    """Where the Authorization header comes from."""

    async def header(self) -> str:
        """The Authorization header value for the next request."""
        ...


class _PatAuth:
    def __init__(self, pat: str) -> None:
        self._header = "Basic " + base64.b64encode(f":{pat}".encode()).decode()

    async def header(self) -> str:
        return self._header

    def __repr__(self) -> str:
        return "pat_auth(***)"


def pat_auth(pat: str) -> DevOpsAuth:
    """A personal access token: Basic auth with an empty user name."""
    if not pat:
        raise ValueError("the PAT is empty")
    return _PatAuth(pat)


class _EntraAuth:
    def __init__(self, credential: AsyncTokenCredential) -> None:
        self._credential = credential
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def header(self) -> str:
        async with self._lock:
            if self._token is None or time.time() >= self._expires_on - TOKEN_REFRESH_MARGIN:
                await self._refresh()
            return f"Bearer {self._token}"

    async def _refresh(self) -> None:
        try:
            token = await self._credential.get_token(DEVOPS_SCOPE)
        except ClientAuthenticationError as error:
            raise DeployError(DeployErrorCode.UNAUTHORIZED, trim(error.message or "")) from None
        except AzureError as error:
            raise DeployError(DeployErrorCode.UNAVAILABLE, trim(error.message or "")) from None
        self._token, self._expires_on = token.token, float(token.expires_on)

    def __repr__(self) -> str:
        return "entra_auth(***)"


def entra_auth(credential: AsyncTokenCredential) -> DevOpsAuth:
    """A Microsoft Entra token for Azure DevOps, cached until five minutes before it expires."""
    return _EntraAuth(credential)
