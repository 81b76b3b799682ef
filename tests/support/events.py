"""Azure ML events as Event Grid delivers them: Microsoft's samples, pushed to the bot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from bot.registry.entra import EVENT_GRID_APP_ID
from fakes.azureml import FakeArm
from fakes.identity import TENANT_ID
from tests.support.bot import BotUnderTest
from tests.support.cards import card_title

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
"""Microsoft's sample events (from the Azure ML Event Grid schema's documentation)."""
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
WORKSPACE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ml-rg"
    "/providers/Microsoft.MachineLearningServices/workspaces/ml-prod"
)
SECRET = "event-grid-secret-4b1d"
ANNOUNCING = {
    "RELEASEBOT_AZUREML_WORKSPACES": f"{SUBSCRIPTION}/ml-rg/ml-prod",
    "RELEASEBOT_EVENTGRID_SECRET": SECRET,
}


def sample(
    schema: str,
    *,
    casing: str = "sample",
    name: str | None = None,
    version: int | None = None,
    workspace_id: str = WORKSPACE_ID,
) -> dict[str, Any]:
    """Microsoft's sample event for our workspace; casing 'schema' uses modelName/modelVersion."""
    event = json.loads((SAMPLES / f"model_registered.{schema}-schema.json").read_text())
    event["topic" if schema == "eventgrid" else "source"] = workspace_id
    data = event["data"]
    if name is not None:
        data["ModelName"] = name
    if version is not None:
        data["ModelVersion"] = version
        event["subject"] = f"models/{data['ModelName']}:{version}"
    if casing == "schema":
        event["data"] = {key[0].lower() + key[1:]: value for key, value in data.items()}
    return event


def registered(arm: FakeArm, body: Any) -> Any:
    """``body``, once Azure ML has the versions its events name, with the tags and properties they
    carry: Azure ML registers a version before it tells Event Grid."""
    for event in body if isinstance(body, list) else [body]:
        data = {key.lower(): value for key, value in event["data"].items()}
        name, version = data["modelname"], str(data["modelversion"])
        if all(item["version"] != version for item in arm.models.get(name, [])):
            tags, properties = data.get("modeltags", {}), data.get("modelproperties", {})
            arm.register(name, version, tags=tags, properties=properties)
    return body


async def post_events(
    bot: BotUnderTest,
    body: Any,
    *,
    secret: str | None = SECRET,
    headers=None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """POST ``body`` to the bot's Event Grid endpoint; the status and the answer (JSON if it is)."""
    url = bot.server.make_url("/api/events/azureml")
    params = {"secret": secret} if secret is not None else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        ClientSession() as session,
        session.post(
            url, params=params, data=data, headers={"Content-Type": content_type, **(headers or {})}
        ) as response,
    ):
        text = await response.text()
        return response.status, json.loads(text) if text.startswith(("{", "[")) else text


def announcement_cards(bot: BotUnderTest) -> list[dict[str, Any]]:
    """The cards that announced a new version, in order."""
    return [card for card in bot.connector.cards() if card_title(card).startswith("New version")]


ENTRA_AUDIENCE = "api://releasebot-events"


def entra_token(keys, authority: str, **claims) -> str:
    """A token Event Grid got for our audience (its application id as ``appid``), or as
    ``claims`` say."""
    claims.setdefault("appid", EVENT_GRID_APP_ID)
    issuer = claims.pop("iss", f"{authority}/{TENANT_ID}/v2.0")
    return keys.token(aud=claims.pop("aud", ENTRA_AUDIENCE), iss=issuer, tid=TENANT_ID, **claims)
