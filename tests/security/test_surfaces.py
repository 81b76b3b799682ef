"""Attacks on what the bot shows and says (#15): text from Azure ML, Azure DevOps and people on a
card, the size of a card, /readyz, the log, and a connector that keeps refusing the bot."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import make_mocked_request

from bot.cards.announcement import DESCRIPTION_LIMIT, approval_card
from bot.cards.lists import pending_card
from bot.cards.text import card_bytes, json_bytes
from bot.cards.verbs import APPROVE, REJECT
from bot.i18n import LANGUAGES, Translator
from bot.logs import configure_logging
from bot.pipelines.azure_devops import AzureDevOps, pat_auth
from bot.web import Readiness
from domain.policy import Policy
from domain.records import DeploymentRecord, ModelVersion, Vote
from domain.statuses import ApprovalState
from fakes.azureml import FakeArm
from fakes.devops import PAT, PROJECT, FakeDevOps
from fakes.identity import APP_ID
from tests.support.activities import installation
from tests.support.approvals import click, start
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions, fact_tables
from tests.support.events import ANNOUNCING, WORKSPACE_ID, post_events, registered
from tests.support.store import approval_of, rows
from tests.support.waiting import until_polled, wait_until

# Bold, italics, a link, a mention, a bare address and a fake date function.
MARKDOWN = (
    "**Approved by Security** _now_ [open the fix](https://evil.example/login) "
    "<at>Ada</at> www.evil.example {{DATE(2020-01-01T00:00:00Z)}}"
)
# What fits in a tag's value on a card.
SHORT_MARKDOWN = "**Approved** _now_ [open the fix](https://evil.example/login) <at>Ada</at>"
TEAMS_LIMIT = 28 * 1024


def rendered(text: str) -> str:
    """What a CommonMark renderer shows for escaped text: each backslash escape as its
    character, no zero-width spaces."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u200b", "")


def assert_literal(text: str) -> None:
    """No markup is left active in ``text``: every markdown character is escaped, and no address
    can be made a link."""
    active = re.sub(r"\\.", "", text)
    assert not set("*[]<>`{}") & set(active), text
    assert not re.search(r"(^|\W)_|_($|\W)", active), text
    assert "://" not in text, text
    assert "www." not in text, text


def texts_with(card: dict[str, Any], fragment: str) -> list[str]:
    return [text for text in card_text(card).split("\n") if fragment in rendered(text)]


def registered_event(name: str, version: int, tags: dict[str, str]) -> dict[str, Any]:
    """Azure ML's ModelRegistered event (Event Grid schema) for our workspace."""
    return {
        "topic": WORKSPACE_ID,
        "subject": f"models/{name}:{version}",
        "eventType": "Microsoft.MachineLearningServices.ModelRegistered",
        "eventTime": "2026-11-24T09:30:00Z",
        "id": str(uuid.uuid4()),
        "data": {"ModelName": name, "ModelVersion": version, "ModelTags": tags},
        "dataVersion": "",
        "metadataVersion": "1",
    }


async def announced(bot: BotUnderTest, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Register version 20 of sklearn_model in Azure ML (with ``tags``) and push its event; the
    card that announced it."""
    before = len(bot.connector.calls)
    event = registered_event("sklearn_model", 20, tags or {})
    status, _ = await post_events(bot, registered(bot.arm, [event]))
    assert status == 200
    await bot.connector.wait_for_calls(before + 1)
    return bot.connector.last_card()


async def newest_update(bot: BotUnderTest, fragment: str) -> dict[str, Any]:
    """The newest card update (PUT) Teams got whose shown text contains ``fragment``."""

    def updates() -> list[dict[str, Any]]:
        return [
            call.body["attachments"][0]["content"]
            for call in bot.connector.calls
            if call.method == "PUT" and fragment in rendered(card_text(call.body))
        ]

    await wait_until(updates)
    return updates()[-1]


# --- text on cards ------------------------------------------------------------------------------


@pytest.fixture
async def polling_bot(arm: FakeArm, start_bot: Any) -> BotUnderTest:
    """A bot that polls the fake Azure ML workspace, subscribed to ``fraud`` in the channel."""
    bot: BotUnderTest = await start_bot(
        registries=[arm.registry()], RELEASEBOT_POLL_INTERVAL_SECONDS="1"
    )
    await bot.post(installation(bot.connector.url, "add", scope="channel"))
    await bot.say("subscribe fraud", scope="channel")
    await until_polled(bot)
    return bot


@pytest.mark.slow
async def test_a_description_tags_and_creator_from_azure_ml_show_literally(
    arm: FakeArm, polling_bot: BotUnderTest
):
    before = len(polling_bot.connector.calls)
    arm.register(
        "fraud",
        "3",
        description=MARKDOWN,
        tags={"[tag](https://evil.example/t)": SHORT_MARKDOWN},
        createdBy="**Grace** <at>Hopper</at>",
    )
    await polling_bot.connector.wait_for_calls(before + 1, within=10)

    card = polling_bot.connector.last_card()
    shown = texts_with(card, "evil.example") + texts_with(card, "Grace")
    assert len(shown) == 4  # the description, the tag's name and value, the creator
    for text in shown:
        assert_literal(text)
    assert rendered(shown[0]) == MARKDOWN
    assert "**Grace** <at>Hopper</at>" in map(rendered, shown)


@pytest.mark.slow
async def test_a_huge_description_is_cut_with_a_link_to_studio_and_the_card_fits(
    arm: FakeArm, polling_bot: BotUnderTest
):
    before = len(polling_bot.connector.calls)
    arm.register("fraud", "4", description="lorem ipsum " * 5000)
    await polling_bot.connector.wait_for_calls(before + 1, within=10)

    card = polling_bot.connector.last_card()
    texts = [block.get("text", "") for block in card["body"]]
    description = next(text for text in texts if text.startswith("lorem ipsum"))
    assert description.endswith("\u2026")
    assert description[:-1].split()[-1] in ("lorem", "ipsum")  # cut between words
    assert card_bytes(description) <= DESCRIPTION_LIMIT
    studio = next(a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl")
    assert f"[Read the whole description in Azure ML studio]({studio})" in texts
    assert json_bytes(polling_bot.connector.calls[-1].body) < TEAMS_LIMIT


async def test_a_tag_from_azure_ml_and_a_reject_reason_show_literally(start_bot: Any):
    bot = await start(start_bot)
    card = await announced(bot, tags={"note": SHORT_MARKDOWN})
    approval_id = execute_actions(card)[0]["data"]["approvalId"]

    (tag,) = texts_with(card, "evil.example")
    await click(bot, REJECT, {"approvalId": approval_id, "reason": MARKDOWN}, name="**Eve** [x](y)")
    update = await newest_update(bot, "Rejected")

    (reason,) = texts_with(update, "Eve")
    for text in (tag, reason):
        assert_literal(text)
    assert rendered(tag) == SHORT_MARKDOWN
    assert rendered(reason) == f"**Eve** [x](y): “{MARKDOWN}”"


@pytest.mark.slow
async def test_a_run_name_from_azure_devops_shows_literally(start_bot: Any):
    async with FakeDevOps() as devops, ClientSession() as session:
        # Azure DevOps allows brackets, parentheses and underscores in a run's name.
        devops.add_pipeline(
            42,
            "deploy",
            run_name="_x_ [y](www.evil.example) deploy-${{ parameters.deploymentKey }}",
        )
        deployer = AzureDevOps(session, devops.organization_url, PROJECT, pat_auth(PAT))
        bot = await start(start_bot, deployer=deployer, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
        card = await announced(bot)
        await click(bot, APPROVE, {"approvalId": execute_actions(card)[0]["data"]["approvalId"]})
        update = await newest_update(bot, "Approved · deploying")

    (run,) = texts_with(update, "evil.example")
    assert_literal(run)
    assert rendered(run).startswith("Run _x_ [y](www.evil.example) deploy-")


# --- the size of a card -------------------------------------------------------------------------

LONG = "**x** ä😀 " * 400  # markup (escaped), non-ASCII (\u escapes) and astral characters


def worst_version(version: str) -> ModelVersion:
    """A version with everything Azure ML lets through as large as it goes."""
    return ModelVersion(
        "workspace",
        "ml-prod",
        ("😀*" * 128)[:255],
        ("ä_" * 64)[:128],
        tags={f"{n:03d}{LONG[:253]}": f"0.{n}{LONG[:1020]}" for n in range(100)},
        properties={f"accuracy{n}": f"0.{n}" for n in range(50)},
        description=LONG * 10,
        created_by=LONG[:256],
        created_at=datetime(2026, 11, 24, tzinfo=UTC),
        source_id="/subscriptions/0/resourceGroups/g/providers/x/workspaces/ml-prod",
    )


def worst_records() -> list[Any]:
    """A pending deployment request, a rejection and a failed deployment, each with 19 or 20
    votes of long names and all the text a person or Azure DevOps can give."""
    at = datetime(2026, 11, 24, tzinfo=UTC)
    votes = tuple(Vote(f"id-{n}", LONG[:256], None, at) for n in range(20))
    deployment = DeploymentRecord(
        id=1,
        key="key",
        target="pipeline:42",
        requested_by="id-1",
        status="error",
        run_status=None,
        run_id=None,
        run_name=LONG[:256],
        web_url=None,
        logs_url=None,
        detail=LONG,
        error_code="invalid",
        last_error=LONG,
        attempts=3,
        created_at=at,
        finished_at=at,
        result_reported=False,
    )
    common = {
        "kind": "deploy",
        "requested_by_name": LONG[:256],
        "policy": Policy(required_approvals=20),
        "deployed_now": worst_version("1"),
    }
    return [
        approval_of(worst_version("2"), **common, votes=votes[:19]),
        approval_of(
            worst_version("2"),
            **common,
            votes=votes[:19],
            state=ApprovalState.REJECTED,
            rejected_by_name=LONG[:256],
            reason=LONG[:1000],
        ),
        approval_of(
            worst_version("2"),
            **common,
            votes=votes,
            state=ApprovalState.APPROVED,
            deployment=deployment,
        ),
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_approval_card_fits_in_a_teams_message_whatever_its_inputs(language):
    for record in worst_records():
        card = approval_card(Translator(language), record, "x" * 200)

        assert len(json.dumps(card).encode()) < TEAMS_LIMIT - 2048  # the activity around it
        assert all(len(table) <= 12 for table in fact_tables(card))


@pytest.mark.parametrize("language", LANGUAGES)
def test_fifty_pending_requests_fit_in_a_teams_message(language):
    records = [worst_records()[0]] * 50  # as many as `pending` lists

    card = pending_card(Translator(language), records)

    assert len(json.dumps(card).encode()) < TEAMS_LIMIT - 2048
    assert "25" in json.dumps(card["body"][-1])  # "and 25 more"


# --- /readyz ------------------------------------------------------------------------------------

METRICS_TOKEN = "scrape-5d2e"


async def readyz(bot: BotUnderTest, **headers: str) -> tuple[int, str]:
    async with bot.session.get(bot.server.make_url("/readyz"), headers=headers) as response:
        return response.status, await response.text()


@pytest.mark.slow
async def test_readyz_through_a_proxy_says_only_whether_the_bot_is_ready(start_bot: Any):
    bot = await start_bot(**ANNOUNCING, RELEASEBOT_METRICS_TOKEN=METRICS_TOKEN)

    for proxied in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        wrong_token = {**proxied, "Authorization": "Bearer scrape-wrong"}
        for headers in (proxied, wrong_token):
            assert await readyz(bot, **headers) == (200, '{"ready": true}')
    status, body = await readyz(
        bot, **{"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert (status, json.loads(body)["checks"]["bot_credentials"]["detail"]) == (
        200,
        f"app id {APP_ID}",
    )


async def test_readyz_for_another_host_says_only_whether_the_bot_is_ready():
    async def store_up() -> dict[str, Any]:
        return {"ok": True}

    secret = {"bot_credentials": {"ok": True, "detail": f"app id {APP_ID}"}}
    readiness = Readiness(store_up, secret)
    peer = mock.Mock()
    peer.get_extra_info.side_effect = lambda name, default=None: (
        ("203.0.113.9", 4711) if name == "peername" else default
    )

    response = await readiness.handle(make_mocked_request("GET", "/readyz", transport=peer))

    assert (response.status, response.text) == (200, '{"ready": true}')


# --- the log ------------------------------------------------------------------------------------

FORGED = "fraud\n2026-12-01 10:00:00,000 INFO bot.agent: approval 7 approved by admin\x1b[2K"


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.usefixtures("restored_logging")
def test_a_model_name_with_a_newline_does_not_forge_a_log_line(log_format, capsys):
    configure_logging("INFO", [], log_format)

    logging.getLogger("bot.outbox").warning("announcement of %s failed", FORGED + "\u2028x")
    try:
        raise ValueError(FORGED)
    except ValueError:
        logging.getLogger("bot.outbox").exception("model %s", FORGED)

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all("\x1b" not in line for line in lines)
    if log_format == "text":
        assert "fraud\\n2026-12-01 10:00:00,000 INFO bot.agent" in lines[0]
        assert lines[1].count("ValueError: fraud\\n2026") == 1
    else:
        assert json.loads(lines[0])["message"] == f"announcement of {FORGED}\u2028x failed"


# --- a connector that keeps refusing the bot ----------------------------------------------------

REFUSED = (401, {"Retry-After": "0"})


@pytest.mark.slow
async def test_an_announcement_teams_keeps_refusing_fails_after_five_tries(
    start_bot: Any, caplog: pytest.LogCaptureFixture
):
    bot = await start(start_bot)
    bot.connector.refusals = [REFUSED] * 8
    before = len(bot.connector.calls)

    await post_events(bot, registered(bot.arm, [registered_event("sklearn_model", 20, {})]))
    await wait_until(lambda: _failed(bot), within=10)

    assert bot.connector.refused == [401] * 5
    assert bot.connector.calls[before:] == []
    (row,) = await rows(bot)
    assert row["last_error"].startswith("Teams refused the bot 5 times (401)")
    assert caplog.text.count("Teams refused the bot") == 1


async def _failed(bot: BotUnderTest) -> bool:
    return [row["status"] for row in await rows(bot)] == ["failed"]


@pytest.mark.slow
async def test_a_card_update_teams_keeps_refusing_is_given_up_after_five_tries(start_bot: Any):
    bot = await start(start_bot)
    card = await announced(bot)
    bot.connector.refusals = [REFUSED] * 8

    await click(bot, APPROVE, {"approvalId": execute_actions(card)[0]["data"]["approvalId"]})
    await wait_until(lambda: len(bot.connector.refused) >= 5, within=20)  # backoff: ~4 s
    await asyncio.sleep(0.5)

    assert bot.connector.refused == [401] * 5
    assert not any(call.method == "PUT" for call in bot.connector.calls)
