"""RELEASEBOT_CLOUD: public, US Government or China, each with its documented endpoints, and the
bot speaking to the Bot Framework of its cloud (incoming tokens, outgoing tokens)."""

from __future__ import annotations

import threading
from typing import Any

import jwt
import pytest
from azure.ai.ml._azure_environments import _get_cloud  # the client's own table, to compare
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    JwtTokenValidator,
    _JwkClientCacheEntry,
    _JwkClientManager,
)

from bot.cloud import CLOUDS, CloudName
from bot.config import SDK_PREFIX, load_settings
from bot.sdk_config import sdk_configuration
from bot.settings_values import SettingsError
from fakes.identity import TENANT_ID, StubTokenProvider
from tests.support.activities import message

# The documented values (Microsoft Learn: Entra national clouds; Bot Framework for US Government
# and for Azure operated by 21Vianet).
DOCUMENTED = {
    CloudName.PUBLIC: {
        "azureml": "AzureCloud",
        "entra": "https://login.microsoftonline.com",
        "issuer": "https://api.botframework.com",
        "keys": "https://login.botframework.com/v1/.well-known/keys",
        "scope": "https://api.botframework.com",
        "studio": "https://ml.azure.com",
    },
    CloudName.USGOV: {
        "azureml": "AzureUSGovernment",
        "entra": "https://login.microsoftonline.us",
        "issuer": "https://api.botframework.us",
        "keys": "https://login.botframework.azure.us/v1/.well-known/keys",
        "scope": "https://api.botframework.us",
        "studio": "https://ml.azure.us",
    },
    CloudName.CHINA: {
        "azureml": "AzureChinaCloud",
        "entra": "https://login.chinacloudapi.cn",
        "issuer": "https://api.botframework.azure.cn",
        "keys": "https://login.botframework.azure.cn/v1/.well-known/keys",
        "scope": "https://api.botframework.azure.cn",
        "studio": "https://ml.azure.cn",
    },
}


@pytest.mark.parametrize("name", list(CloudName))
def test_each_cloud_has_its_documented_endpoints(name):
    cloud, documented = CLOUDS[name], DOCUMENTED[name]

    assert (cloud.azureml_cloud, cloud.entra_authority) == (
        documented["azureml"],
        documented["entra"],
    )
    assert (cloud.botframework_issuer, cloud.botframework_jwks) == (
        documented["issuer"],
        documented["keys"],
    )
    assert (cloud.botframework_scope, cloud.studio) == (documented["scope"], documented["studio"])


@pytest.mark.parametrize("name", list(CloudName))
def test_each_cloud_agrees_with_azure_ai_ml_on_its_endpoints(name):
    cloud = CLOUDS[name]
    theirs = _get_cloud(cloud.azureml_cloud)

    assert theirs["resource_manager"].rstrip("/") == cloud.resource_manager
    assert theirs["active_directory"].rstrip("/") == cloud.entra_authority
    assert theirs["aml_resource_id"].rstrip("/") == cloud.studio


def test_the_cloud_setting_is_checked():
    with pytest.raises(SettingsError, match="RELEASEBOT_CLOUD must be one of public, usgov, china"):
        load_settings({"RELEASEBOT_CLOUD": "mooncake"}, dotenv_path=None)


def test_outside_the_public_cloud_the_sdk_signs_in_and_checks_issuers_there():
    settings = load_settings(
        {"RELEASEBOT_CLOUD": "usgov", SDK_PREFIX + "TENANTID": TENANT_ID}, dotenv_path=None
    )

    config = sdk_configuration(settings)["CONNECTIONS"]["SERVICE_CONNECTION"]["SETTINGS"]

    assert config["AUTHORITY"] == f"https://login.microsoftonline.us/{TENANT_ID}"
    assert config["ISSUERS"].split(",") == [
        "https://api.botframework.us",
        f"https://sts.windows.net/{TENANT_ID}/",
        f"https://login.microsoftonline.us/{TENANT_ID}/v2.0",
    ]


def test_an_authority_given_for_the_sdk_wins():
    mine = "https://login.microsoftonline.us/another-tenant"
    settings = load_settings(
        {
            "RELEASEBOT_CLOUD": "usgov",
            SDK_PREFIX + "TENANTID": TENANT_ID,
            SDK_PREFIX + "AUTHORITY": mine,
        },
        dotenv_path=None,
    )

    config = sdk_configuration(settings)["CONNECTIONS"]["SERVICE_CONNECTION"]["SETTINGS"]

    assert config["AUTHORITY"] == mine


def china_keys_only(jwks_url: str) -> _JwkClientManager:
    """Our test keys at the China Bot Framework's key address, and nowhere else."""
    manager = _JwkClientManager()
    china = CLOUDS[CloudName.CHINA].botframework_jwks
    manager._cache[china] = _JwkClientCacheEntry(jwt.PyJWKClient(jwks_url), threading.Lock())
    return manager


@pytest.mark.slow
async def test_in_china_the_bot_framework_tokens_of_china_are_checked_against_its_keys(
    start_bot, jwks_server, monkeypatch
):
    monkeypatch.setattr(JwtTokenValidator, "_jwk_client_manager", china_keys_only(jwks_server))
    bot = await start_bot(RELEASEBOT_CLOUD="china")
    china = CLOUDS[CloudName.CHINA].botframework_issuer
    url = bot.connector.url

    accepted, _ = await bot.post(
        message(url, "help"), token=bot.keys.token(serviceurl=url, iss=china)
    )
    public, _ = await bot.post(message(url, "help"), token=bot.keys.token(serviceurl=url))

    assert accepted == 202
    assert public == 401


async def test_outside_the_public_cloud_the_bot_asks_for_tokens_of_that_clouds_bot_framework(
    start_bot, jwks_server, monkeypatch
):
    asked: list[tuple[Any, ...]] = []
    stub = StubTokenProvider.get_access_token

    async def recording(self: Any, audience: str, scopes: Any = None, *args: Any) -> str:
        asked.append((audience, scopes))
        return await stub(self, audience, scopes, *args)

    monkeypatch.setattr(StubTokenProvider, "get_access_token", recording)
    monkeypatch.setattr(JwtTokenValidator, "_jwk_client_manager", china_keys_only(jwks_server))
    bot = await start_bot(RELEASEBOT_CLOUD="china")
    url = bot.connector.url
    token = bot.keys.token(serviceurl=url, iss=CLOUDS[CloudName.CHINA].botframework_issuer)

    status, _ = await bot.post(message(url, "help"), token=token)

    assert status == 202
    assert len(bot.connector.calls) == 1
    assert asked == [
        ("https://api.botframework.azure.cn", ["https://api.botframework.azure.cn/.default"])
    ]


async def test_a_turn_asks_only_for_the_connectors_token_the_bot_signs_no_user_in(
    start_bot, monkeypatch
):
    asked: list[Any] = []
    stub = StubTokenProvider.get_access_token

    async def recording(self: Any, audience: str, *args: Any) -> str:
        asked.append(audience)
        return await stub(self, audience, *args)

    monkeypatch.setattr(StubTokenProvider, "get_access_token", recording)
    bot = await start_bot()

    for _ in range(2):
        status, _ = await bot.post(message(bot.connector.url, "help"))
        assert status == 202

    assert len(bot.connector.calls) == 2
    assert asked == ["https://api.botframework.com"] * 2  # no user-token service token per turn


async def test_readyz_names_the_cloud(start_bot):
    bot = await start_bot(RELEASEBOT_CLOUD="usgov")

    async with bot.session.get(bot.server.make_url("/readyz")) as response:
        checks = (await response.json())["checks"]

    assert checks["cloud"] == {"ok": True, "detail": "usgov"}
