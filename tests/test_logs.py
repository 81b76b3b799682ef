"""Structured logs: JSON lines with the secrets masked, and one correlation id per model version
from the event that announced it to the deployment it started."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import ClientSession

from bot.cards.verbs import APPROVE
from bot.logs import configure_logging, correlated
from bot.pipelines.azure_devops import AzureDevOps, pat_auth
from fakes.devops import PAT, PROJECT, FakeDevOps
from tests.support.approvals import announce, click, start, wait_for_update

VERSION = "ml-prod/sklearn_regression_model:20"
AZURE_HTTP = "azure.core.pipeline.policies.http_logging_policy"


def test_json_lines_carry_the_correlation_id_and_mask_secrets(restored_logging, capsys):
    configure_logging("INFO", ["s3cret-value-1"], "json")

    with correlated(VERSION):
        logging.getLogger("releasebot.test").warning("token s3cret-value-1 refused")
    logging.getLogger("releasebot.test").info("outside")

    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["message"] == "token *** refused"
    assert (inside["level"], inside["logger"]) == ("WARNING", "releasebot.test")
    assert inside["correlation_id"] == VERSION
    assert "correlation_id" not in outside


@pytest.mark.parametrize("name", [AZURE_HTTP, "azure.identity"])
def test_the_azure_sdk_speaks_at_info_only_when_debugging(restored_logging, capsys, name):
    configure_logging("INFO", [])
    logging.getLogger(name).info("Request headers: 'Authorization': 'REDACTED'")
    logging.getLogger(name).warning("the SDK warns")
    assert capsys.readouterr().err.count(name) == 1

    configure_logging("DEBUG", [])
    logging.getLogger(name).info("Request headers: 'Authorization': 'REDACTED'")
    assert "Request headers" in capsys.readouterr().err


async def test_one_correlation_id_follows_a_version_from_event_to_deployment(start_bot, caplog):
    caplog.set_level(logging.INFO)
    async with FakeDevOps() as devops, ClientSession() as session:
        devops.add_pipeline(42, "deploy-model")
        deployer = AzureDevOps(session, devops.organization_url, PROJECT, pat_auth(PAT))
        bot = await start(start_bot, deployer=deployer, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
        approval_id = await announce(bot)
        await click(bot, APPROVE, {"approvalId": approval_id})
        await wait_for_update(bot, "Run 1001")

    def correlation_of(fragment: str) -> str | None:
        record = next(r for r in caplog.records if fragment in r.getMessage())
        return getattr(record, "correlation_id", None)

    assert correlation_of("announcement(s) queued") == VERSION
    assert correlation_of("as run 1001") == VERSION
