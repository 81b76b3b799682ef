"""Incoming authentication through the SDK's real JWT validation, with its weak defaults closed."""

from __future__ import annotations

import time

import pytest
from microsoft_agents.hosting.core.authorization import ClaimsIdentity, JwtTokenValidator

from bot.web import TokenCache
from fakes.identity import APP_ID, OUTBOUND_TOKEN
from tests.support.activities import message
from tests.support.bot import BotUnderTest


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


@pytest.mark.slow
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


def test_the_token_cache_forgets_a_token_at_its_expiry_and_stays_bounded():
    now = [1000.0]
    cache = TokenCache(max_entries=2, clock=lambda: now[0])
    identity = ClaimsIdentity({"exp": 1060})
    cache.put("a", identity)
    cache.put("b", ClaimsIdentity({"exp": 5000}))

    assert cache.get("a") is identity
    now[0] = 1060.0
    assert cache.get("a") is None
    cache.put("c", ClaimsIdentity({"exp": 5000}))
    cache.put("d", ClaimsIdentity({"exp": 5000}))
    assert cache.get("b") is None  # the least recently used entry made room
    assert cache.get("d") is not None


async def test_a_refused_token_is_refused_again_and_a_valid_one_is_validated_once(
    bot: BotUnderTest, monkeypatch
):
    validations = []
    original = JwtTokenValidator.validate_token

    async def counting(self, token):
        validations.append(token)
        return await original(self, token)

    monkeypatch.setattr(JwtTokenValidator, "validate_token", counting)
    valid = bot.keys.token(serviceurl=bot.connector.url)
    forged = bot.keys.token(key=bot.keys.other_key, serviceurl=bot.connector.url)

    results = [
        (await bot.post(message(bot.connector.url, "help"), token=t))[0]
        for t in (valid, valid, forged, forged)
    ]

    assert results == [202, 202, 401, 401]
    assert validations == [valid, forged, forged]
