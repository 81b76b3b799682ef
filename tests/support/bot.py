"""The real bot under test, served on loopback, and its environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.config import Settings
from fakes.azureml import FakeArm
from fakes.identity import APP_ID, TENANT_ID, SigningKeys
from tests.support.activities import message
from tests.support.connector import RecordingConnector

CLIENT_SECRET = "client-secret-never-logged-7f3a"


def bot_environment(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a bot under test: a real app identity and a loopback connector."""
    return {
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": CLIENT_SECRET,
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_DEV_LOCAL_CONNECTOR": "true",
        **overrides,
    }


@dataclass
class BotUnderTest:
    """The real bot served on loopback, with helpers to talk to it like Teams does."""

    server: TestServer
    session: ClientSession
    keys: SigningKeys
    connector: RecordingConnector
    settings: Settings
    arm: FakeArm
    """The loopback Azure ML that the bot reads, when it polls the workspace ml-prod."""

    @property
    def messages_url(self) -> str:
        return str(self.server.make_url("/api/messages"))

    async def post(
        self, activity: Any, *, token: str | None = "valid", **kwargs: Any
    ) -> tuple[int, Any]:
        """POST an activity; ``token='valid'`` signs a correct one for this connector."""
        headers = kwargs.pop("headers", {})
        if token == "valid":
            token = self.keys.token(serviceurl=self.connector.url)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(activity, (bytes, str)):
            kwargs["data"] = activity
            headers.setdefault("Content-Type", "application/json")
        elif activity is not None:
            kwargs["json"] = activity
        async with self.session.post(self.messages_url, headers=headers, **kwargs) as response:
            text = await response.text()
            return response.status, text

    async def say(self, text: str, **activity_args: Any) -> dict[str, Any]:
        """Send a chat message and return the card the bot answered with."""
        before = len(self.connector.calls)
        status, body = await self.post(message(self.connector.url, text, **activity_args))
        assert status == 202, body
        assert len(self.connector.calls) == before + 1, "expected exactly one reply"
        return self.connector.last_card()
