"""Malformed, oversized and odd bodies get clear 4xx answers, never a 500."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from bot.web import Readiness, timed_check
from tests.support.activities import message
from tests.support.bot import BotUnderTest


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'"x"', "JSON object"),
        (b"null", "JSON object"),
        (b"{}", "'type'"),
        (b'{"type": 123}', "'type'"),
        (
            b'{"type": "message", "serviceUrl": "http://127.0.0.1/", "channelId": "msteams"}',
            "conversation.id",
        ),
    ],
)
async def test_malformed_bodies_get_400_with_a_reason(bot: BotUnderTest, body: bytes, reason: str):
    status, text = await bot.post(body)

    assert status == 400
    assert reason in json.loads(text)["error"]


async def test_an_activity_without_service_url_gets_400(bot: BotUnderTest):
    activity = message(bot.connector.url, "help")
    del activity["serviceUrl"]

    status, text = await bot.post(activity)

    assert status == 400
    assert "serviceUrl" in text


@pytest.mark.parametrize("service_url", ["ftp://127.0.0.1/", "not a url", "javascript:alert(1)"])
async def test_a_service_url_that_is_not_http_gets_400(bot: BotUnderTest, service_url: str):
    activity = message(bot.connector.url, "help") | {"serviceUrl": service_url}

    status, _ = await bot.post(activity, token=bot.keys.token())

    assert status == 400


async def test_fields_of_the_wrong_type_get_400(bot: BotUnderTest):
    activity = message(bot.connector.url, "help") | {"entities": "x", "locale": 3}

    status, text = await bot.post(activity)

    assert status == 400
    assert "malformed" in text


async def test_an_oversized_body_gets_413(bot: BotUnderTest):
    activity = message(bot.connector.url, "help" + " x" * bot.settings.max_body_bytes)

    status, _ = await bot.post(activity)

    assert status == 413


async def test_an_oversized_chunked_body_gets_413(bot: BotUnderTest):
    async def chunks():
        for _ in range(bot.settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    status, _ = await bot.post(None, data=chunks(), headers={"Content-Type": "application/json"})

    assert status == 413


async def test_a_body_that_is_not_json_typed_gets_415(bot: BotUnderTest):
    status, _ = await bot.post(
        json.dumps(message(bot.connector.url, "help")), headers={"Content-Type": "text/plain"}
    )

    assert status == 415


async def test_healthz_answers(bot: BotUnderTest):
    async with ClientSession() as session, session.get(bot.server.make_url("/healthz")) as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}


async def test_readyz_reports_each_dependency(bot: BotUnderTest):
    async with ClientSession() as session, session.get(bot.server.make_url("/readyz")) as response:
        report = await response.json()

    assert response.status == 200
    assert report["ready"] is True
    checks = report["checks"]
    assert checks["store"] == {"ok": True}
    assert checks["bot_credentials"]["ok"] is True
    assert checks["azure_ml"]["ok"] is False
    assert "RELEASEBOT_AZUREML_WORKSPACES" in checks["azure_ml"]["reason"]
    assert "RELEASEBOT_DEVOPS_PROJECT" in checks["azure_devops"]["reason"]


async def _failing_probe() -> None:
    raise ConnectionRefusedError("postgresql://user:hunter2@db/bot refused")


async def _hanging_probe() -> None:
    await asyncio.sleep(10)


@pytest.mark.parametrize(
    ("probe", "reason"),
    [(_failing_probe, "failed (ConnectionRefusedError)"), (_hanging_probe, "did not answer")],
)
async def test_readyz_is_503_with_the_reason_when_the_store_fails(probe, reason):
    readiness = Readiness(timed_check(probe, "the database", timeout=0.05), {})
    app = web.Application()
    app.router.add_get("/readyz", readiness.handle)

    async with (
        TestServer(app, host="127.0.0.1") as server,
        ClientSession() as session,
        session.get(server.make_url("/readyz")) as response,
    ):
        report = await response.json()

    assert response.status == 503
    assert report["ready"] is False
    assert reason in report["checks"]["store"]["reason"]
    assert "hunter2" not in json.dumps(report)
