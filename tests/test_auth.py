"""Incoming authentication through the SDK's real JWT validation, with its weak defaults closed."""

from __future__ import annotations

import time

import pytest

from tests.conftest import APP_ID, OUTBOUND_TOKEN, BotUnderTest, message


async def test_valid_token_is_accepted_and_the_reply_carries_the_outbound_token(bot: BotUnderTest):
    status, _ = await bot.post(message(bot.connector.url, "help"))

    assert status == 202
    assert [call.authorization for call in bot.connector.calls] == [f"Bearer {OUTBOUND_TOKEN}"]


def _forged_tokens(bot: BotUnderTest) -> dict[str, str | None]:
    keys, url, now = bot.keys, bot.connector.url, int(time.time())
    return {
        "no token": None,
        "another key with our key id": keys.token(key=keys.other_key, serviceurl=url),
        "signature tampered": keys.token(serviceurl=url)[:-4] + "AAAA",
        "expired beyond the leeway": keys.token(serviceurl=url, exp=now - 3600, iat=now - 7200),
        "not yet valid": keys.token(serviceurl=url, nbf=now + 3600),
        "wrong audience": keys.token(serviceurl=url, aud="another-app"),
        "audience as a list": keys.token(serviceurl=url, aud=[APP_ID]),
        "no expiry": keys.token(serviceurl=url, drop=("exp",)),
        "no key id": keys.token(serviceurl=url, headers={}),
        "unknown key id": keys.token(serviceurl=url, headers={"kid": "nope"}),
        "untrusted issuer": keys.token(serviceurl=url, iss="https://evil.example.com"),
        "service URL of another host": keys.token(
            serviceurl="https://smba.trafficmanager.net/emea/"
        ),
        "not a JWT": "abc.def.ghi",
    }


@pytest.mark.parametrize(
    "case",
    [
        "no token",
        "another key with our key id",
        "signature tampered",
        "expired beyond the leeway",
        "not yet valid",
        "wrong audience",
        "audience as a list",
        "no expiry",
        "no key id",
        "unknown key id",
        "untrusted issuer",
        "service URL of another host",
        "not a JWT",
    ],
)
async def test_forged_or_invalid_tokens_get_401_and_reach_no_handler(bot: BotUnderTest, case: str):
    status, body = await bot.post(
        message(bot.connector.url, "help"), token=_forged_tokens(bot)[case]
    )

    assert status == 401, body
    assert "Traceback" not in body
    assert bot.connector.calls == []


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer a b", "bearer  "])
async def test_malformed_authorization_headers_get_401(bot: BotUnderTest, header: str):
    status, _ = await bot.post(
        message(bot.connector.url, "help"), token=None, headers={"Authorization": header}
    )

    assert status == 401


async def test_anonymous_requests_need_the_development_switch(start_bot):
    strict = await start_bot()
    status, _ = await strict.post(message(strict.connector.url, "help"), token=None)
    assert status == 401

    relaxed = await start_bot(RELEASEBOT_DEV_ALLOW_ANONYMOUS="true")
    status, _ = await relaxed.post(message(relaxed.connector.url, "help"), token=None)
    assert status == 202


async def test_with_the_development_switch_a_bad_token_is_still_refused(start_bot):
    relaxed = await start_bot(RELEASEBOT_DEV_ALLOW_ANONYMOUS="true")
    forged = relaxed.keys.token(key=relaxed.keys.other_key, serviceurl=relaxed.connector.url)

    status, _ = await relaxed.post(message(relaxed.connector.url, "help"), token=forged)

    assert status == 401


async def test_without_an_app_id_every_token_is_refused(start_bot):
    unconfigured = await start_bot(CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID="")

    status, _ = await unconfigured.post(message(unconfigured.connector.url, "help"))

    assert status == 401


async def test_replies_go_only_to_microsoft_hosts_without_the_local_connector_switch(start_bot):
    production = await start_bot(RELEASEBOT_DEV_LOCAL_CONNECTOR="false")

    status, _ = await production.post(message(production.connector.url, "help"))

    assert status == 401
    assert production.connector.calls == []
