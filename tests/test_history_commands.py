"""pending, history, status, deploy and rollback through the real bot over HTTP, in English and
German: what they show, the approvals deploy and rollback ask for, and their errors."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from app import STORE
from bot.cards.lists import history_card
from bot.cards.verbs import APPROVE, REJECT
from bot.i18n import Translator
from bot.store.approvals import new_approval_values
from bot.store.clock import utcnow
from bot.store.tables import approval_audit, approvals, conversations, deployments, model_versions
from domain.policy import Policy
from domain.records import ModelVersion
from domain.releases import DecisionSummary, VersionHistory
from domain.statuses import ApprovalState
from tests.support.activities import BOB, CONVERSATIONS, USER_ID, message
from tests.support.approvals import announce, decide, start
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text, execute_actions, facts

MODEL = "sklearn_regression_model"
RUN_URL = "https://dev.azure.com/contoso/ml/_build/results?buildId={run}"


def open_urls(card: dict[str, Any]) -> list[str]:
    return [a["url"] for a in card.get("actions", []) if a["type"] == "Action.OpenUrl"]


async def rows(bot: BotUnderTest, table: Any, *order: Any) -> list[Any]:
    async with bot.server.app[STORE].engine.connect() as connection:
        return list(await connection.execute(select(table).order_by(*order or (table.c.id,))))


async def conversation_ref(bot: BotUnderTest, scope: str) -> int:
    """The stored id of a conversation the bot has heard from (``help`` makes it known)."""
    await bot.say("help", scope=scope)
    async with bot.server.app[STORE].engine.connect() as connection:
        ref = await connection.scalar(
            select(conversations.c.id).where(
                conversations.c.conversation_id.startswith(CONVERSATIONS[scope])
            )
        )
    assert isinstance(ref, int)
    return ref


async def version_id(bot: BotUnderTest, version: str, source_name: str = "ml-prod") -> int:
    async with bot.server.app[STORE].engine.connect() as connection:
        found = await connection.scalar(
            select(model_versions.c.id).where(
                model_versions.c.name == MODEL,
                model_versions.c.version == version,
                model_versions.c.source_name == source_name,
            )
        )
    assert isinstance(found, int)
    return found


async def add_version(
    bot: BotUnderTest, version: str, *, kind: str, source: str, tags: str = "{}"
) -> None:
    """A version the bot knows without having announced it (a first poll, another source)."""
    async with bot.server.app[STORE].engine.begin() as connection:
        await connection.execute(
            insert(model_versions).values(
                source_kind=kind,
                source_name=source,
                name=MODEL,
                version=version,
                tags=tags,
                properties="{}",
                received_via="poll",
                received_at=utcnow(),
            )
        )


async def deployed(
    bot: BotUnderTest,
    conversation: int,
    version: str,
    run_status: str | None,
    *,
    hours_ago: float,
    run: int,
    status: str = "finished",
    target: str = "pipeline:42",
) -> None:
    """A deployment of ``version`` to ``target`` that ended ``hours_ago`` (approved in
    ``conversation``)."""
    ended = utcnow() - timedelta(hours=hours_ago)
    async with bot.server.app[STORE].engine.begin() as connection:
        model_version_id = await connection.scalar(
            select(model_versions.c.id).where(
                model_versions.c.name == MODEL, model_versions.c.version == version
            )
        )
        approval = new_approval_values(
            conversation, model_version_id, Policy(), target, kind="deploy", now=ended
        ) | {"state": "approved", "decided_at": ended}
        approval_id = (
            await connection.execute(insert(approvals).values(approval).returning(approvals.c.id))
        ).scalar_one()
        await connection.execute(
            insert(deployments).values(
                approval_id=approval_id,
                model_version_id=model_version_id,
                deployment_key=f"mrb-test-{run}",
                target=target,
                requested_by="Alice",
                status=status,
                run_status=run_status,
                attempts=1,
                next_attempt_at=ended,
                run_id=run,
                run_name=f"Run-{run}",
                web_url=RUN_URL.format(run=run),
                created_at=ended - timedelta(minutes=20),
                updated_at=ended,
                finished_at=ended if status == "finished" else None,
                result_reported=True,
            )
        )


async def deploy_history(bot: BotUnderTest) -> int:
    """Versions 20, 21, 22 announced in the channel and decided there; deployments from a
    group chat: 20 succeeded, then 21 partially succeeded. Returns the group chat's id."""
    for version in (20, 21, 22):
        await decide(bot, APPROVE, {"approvalId": await announce(bot, version)})
    group = await conversation_ref(bot, "groupChat")
    await deployed(bot, group, "20", "succeeded", hours_ago=30, run=7)
    await deployed(bot, group, "21", "partially_succeeded", hours_ago=20, run=8)
    return group


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en-US",
            [
                "`pending`",
                "`history <model-name>`",
                "`status <model-name>`",
                "`deploy <model-name> <version> [workspace=<name>|registry=<name>]`",
                "`rollback <model-name>`",
                "`deploy fraud-model 7`",
            ],
        ),
        (
            "de-DE",
            [
                "`ausstehend`",
                "`verlauf <Modellname>`",
                "`status <Modellname>`",
                "`bereitstellen <Modellname> <Version> [workspace=<Name>|registry=<Name>]`",
                "`zurücksetzen <Modellname>`",
                "`bereitstellen fraud-model 7`",
            ],
        ),
    ],
)
async def test_help_lists_the_release_commands(bot: BotUnderTest, locale, expected):
    text = card_text(await bot.say("help", locale=locale))

    for line in expected:
        assert line in text


# --- pending ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locale", "word", "expected"),
    [
        ("en-US", "pending", "Nothing is waiting for approval in this conversation."),
        ("de-DE", "ausstehend", "In dieser Unterhaltung wartet nichts auf Genehmigung."),
    ],
)
async def test_pending_says_when_nothing_waits(bot: BotUnderTest, locale, word, expected):
    assert expected in card_text(await bot.say(word, locale=locale))


@pytest.mark.slow
async def test_pending_lists_what_waits_here_with_approvals_so_far(start_bot):
    bot = await start(start_bot, RELEASEBOT_REQUIRED_APPROVALS="2")
    await decide(bot, APPROVE, {"approvalId": await announce(bot, 20)})
    await decide(bot, REJECT, {"approvalId": await announce(bot, 21), "reason": "worse"})

    english = await bot.say("pending", scope="channel")
    german = await bot.say("ausstehend", scope="channel", locale="de-DE")
    elsewhere = await bot.say("pending", scope="groupChat")

    assert "Waiting for approval here: 1" in card_text(english)
    shown = facts(english)
    assert shown["Model"] == MODEL
    assert shown["Version"] == "20"
    assert shown["Request"] == "new version"
    assert shown["Approvals"] == "1 of 2"
    assert shown["Expires"].startswith("{{DATE(")
    assert facts(german)["Genehmigungen"] == "1 von 2"
    assert facts(german)["Anfrage"] == "neue Version"
    assert "Waiting for approval here: 0" in card_text(elsewhere)


# --- deploy -------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_deploy_asks_for_approval_with_the_subscriptions_policy(start_bot):
    bot = await start(start_bot, RELEASEBOT_DEPLOY_TARGETS="pipeline:42")
    await bot.say(
        "subscribe sklearn_* workspace=ml-prod deploy=pipeline:42 approvals=2", scope="channel"
    )
    await decide(bot, REJECT, {"approvalId": await announce(bot, 20), "reason": "not yet"})

    card = await bot.say(f"deploy {MODEL} 20", scope="channel")

    text = card_text(card)
    assert f"Deployment request: {MODEL} 20" in text
    assert "0 of 2 approvals so far" in text
    assert facts(card)["Requested by"] == "Ada Lovelace"
    assert facts(card)["Deploys with"] == "pipeline 42"
    approval_id = execute_actions(card)[0]["data"]["approvalId"]
    row = (await rows(bot, approvals))[-1]
    assert (row.id, row.kind, row.state, row.target) == (
        approval_id,
        "deploy",
        "pending",
        "pipeline:42",
    )
    assert row.requested_by == USER_ID
    assert row.activity_id == f"activity-{len(bot.connector.calls)}"  # the reply's id
    audit = (await rows(bot, approval_audit))[-1]
    assert (audit.approval_id, audit.action, audit.actor_id, audit.actor_name, audit.detail) == (
        approval_id,
        "request",
        USER_ID,
        "Ada Lovelace",
        "deploy",
    )


@pytest.mark.slow
async def test_the_requested_card_is_updated_in_place_when_approved(start_bot):
    bot = await start(start_bot)
    await decide(bot, REJECT, {"approvalId": await announce(bot, 20), "reason": "not yet"})
    card = await bot.say(f"deploy {MODEL} 20", scope="channel")
    activity_id = f"activity-{len(bot.connector.calls)}"

    await decide(bot, APPROVE, {"approvalId": execute_actions(card)[0]["data"]["approvalId"]})

    update = bot.connector.calls[-1]
    assert update.method == "PUT"
    assert update.path.endswith(f"/activities/{activity_id}")
    assert "✔ Alice approved" in card_text(update.body["attachments"][0]["content"])


@pytest.mark.slow
async def test_without_a_matching_subscription_deploy_takes_the_defaults(start_bot):
    bot = await start(
        start_bot, RELEASEBOT_REQUIRED_APPROVALS="3", RELEASEBOT_DEPLOY_TARGET="release:12"
    )
    await announce(bot, 20)

    card = await bot.say(f"bereitstellen {MODEL} 20", scope="groupChat", locale="de-DE")

    text = card_text(card)
    assert f"Bereitstellungsanfrage: {MODEL} 20" in text
    assert "Bisher 0 von 3 Genehmigungen" in text
    assert facts(card)["Bereitstellung mit"] == "Releasedefinition 12"


@pytest.mark.slow
async def test_a_version_already_waiting_here_is_answered_with_its_approval(start_bot):
    bot = await start(start_bot)
    announced = await announce(bot, 20)
    announced_card = f"activity-{len(bot.connector.calls)}"

    card = await bot.say(f"deploy {MODEL} 20", scope="channel")
    again = await bot.say(f"deploy {MODEL} 20", scope="channel", locale="de-DE")

    assert execute_actions(card)[0]["data"]["approvalId"] == announced
    assert f"New version: {MODEL} 20" in card_text(card)
    assert "already waiting for approval here" in card_text(card)
    assert "wartet hier schon auf Genehmigung" in card_text(again)
    stored = await rows(bot, approvals)
    assert len(stored) == 1
    assert stored[0].activity_id == announced_card  # the announcement stays the card kept current


@pytest.mark.slow
@pytest.mark.both_stores
async def test_deploy_twice_after_a_decision_makes_one_request(start_bot):
    bot = await start(start_bot)
    await decide(bot, REJECT, {"approvalId": await announce(bot, 20), "reason": "not yet"})

    first = await bot.say(f"deploy {MODEL} 20", scope="channel")
    second = await bot.say(f"deploy {MODEL} 20", scope="channel")

    ids = {execute_actions(card)[0]["data"]["approvalId"] for card in (first, second)}
    assert len(ids) == 1
    assert [row.kind for row in await rows(bot, approvals)] == ["announce", "deploy"]
    assert [row.action for row in await rows(bot, approval_audit)] == ["reject", "request"]


@pytest.mark.slow
@pytest.mark.both_stores
async def test_concurrent_deploy_commands_make_one_request(start_bot):
    bot = await start(start_bot)
    await decide(bot, REJECT, {"approvalId": await announce(bot, 20), "reason": "not yet"})
    command = message(bot.connector.url, f"deploy {MODEL} 20", scope="channel")

    answers = await asyncio.gather(*(bot.post(command) for _ in range(10)))

    assert {status for status, _ in answers} == {202}
    assert [row.kind for row in await rows(bot, approvals)] == ["announce", "deploy"]


@pytest.mark.slow
async def test_deploy_takes_the_newest_received_source_unless_one_is_named(start_bot):
    bot = await start(start_bot)
    await decide(bot, REJECT, {"approvalId": await announce(bot, 20), "reason": "not yet"})
    await add_version(bot, "20", kind="registry", source="shared-reg")

    newest = await bot.say(f"deploy {MODEL} 20", scope="channel")
    named = await bot.say(f"deploy {MODEL} 20 workspace=ml-prod", scope="channel")

    assert facts(newest)["From"] == "registry shared-reg"
    assert facts(named)["From"] == "workspace ml-prod"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locale", "command", "expected"),
    [
        (
            "en-US",
            "deploy sklearn_regresion_model 20",
            "I know no model “sklearn_regresion_model”. Did you mean sklearn_regression_model?",
        ),
        ("en-US", "deploy churn 1", "I know no model “churn”."),
        (
            "en-US",
            f"deploy {MODEL} 99",
            f"“{MODEL}” has no version “99”. Its newest versions: 21, 20.",
        ),
        (
            "en-US",
            f"deploy {MODEL} 20 registry=shared-reg",
            f"I know no version “20” of “{MODEL}” from registry shared-reg.",
        ),
        (
            "de-DE",
            f"bereitstellen {MODEL} 99",
            f"„{MODEL}“ hat keine Version „99“. Seine neuesten Versionen: 21, 20.",
        ),
        (
            "de-DE",
            "bereitstellen sklearn_regresion_model 20",
            "Ein Modell „sklearn_regresion_model“ kenne ich nicht. Meinten Sie "
            "sklearn_regression_model?",
        ),
    ],
)
async def test_deploy_of_an_unknown_version_says_what_is_known(
    start_bot, locale, command, expected
):
    bot = await start(start_bot)
    await announce(bot, 20)
    await announce(bot, 21)
    before = len(await rows(bot, approvals))

    text = card_text(await bot.say(command, scope="channel", locale=locale))

    assert expected in text
    assert len(await rows(bot, approvals)) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locale", "command", "reason", "usage"),
    [
        (
            "en-US",
            "deploy",
            "Tell me which model: give its exact name",
            "`deploy <model-name> <version> [workspace=<name>|registry=<name>]`",
        ),
        (
            "en-US",
            "deploy fraud-* 3",
            "“fraud-\\*” is not a model name",
            "`deploy <model-name> <version>",
        ),
        ("en-US", "deploy m 1/2", "“1/2” is not a version", "`deploy <model-name> <version>"),
        (
            "de-DE",
            "bereitstellen fraud-model",
            "Welche Version von fraud-model soll bereitgestellt werden?",
            "`bereitstellen <Modellname> <Version>",
        ),
        (
            "de-DE",
            "bereitstellen fraud-model 3 registry=x",
            "„x“ ist kein gültiger Name für eine Registrierung",
            "`bereitstellen <Modellname> <Version>",
        ),
        ("en-US", "history", "Tell me which model", "`history <model-name>`"),
        ("de-DE", "verlauf a b", "„b“ habe ich nicht verstanden.", "`verlauf <Modellname>`"),
        ("en-US", "status m?", "“m?” is not a model name", "`status <model-name>`"),
        (
            "de-DE",
            "zurücksetzen",
            "Welches Modell? Geben Sie seinen genauen Namen an",
            "`zurücksetzen <Modellname>`",
        ),
        ("en-US", "pending all", "I did not understand “all”.", "`pending`"),
    ],
)
async def test_wrong_forms_get_the_reason_and_the_correct_form(
    bot: BotUnderTest, locale, command, reason, usage
):
    text = card_text(await bot.say(command, locale=locale))

    assert reason in text
    assert usage in text
    assert ("Correct form:" if locale == "en-US" else "Richtige Form:") in text


# --- history ------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_history_shows_decisions_and_deployments_newest_first(start_bot):
    bot = await start(start_bot, RELEASEBOT_REQUIRED_APPROVALS="1")
    await decide(bot, APPROVE, {"approvalId": await announce(bot, 20)})
    await decide(
        bot,
        REJECT,
        {"approvalId": await announce(bot, 21), "reason": "AUC dropped"},
        user=BOB,
        name="Bob",
    )
    await announce(bot, 22)
    await add_version(bot, "19", kind="workspace", source="ml-prod")  # never announced here
    group = await conversation_ref(bot, "groupChat")
    await deployed(bot, group, "20", "succeeded", hours_ago=5, run=7)
    await bot.say(f"deploy {MODEL} 20", scope="channel")

    card = await bot.say(f"history {MODEL}", scope="channel")

    text = card_text(card)
    assert f"History of {MODEL}: 3 versions, newest first" in text
    assert text.index("Version 22") < text.index("Version 21") < text.index("Version 20")
    assert "Version 19" not in text
    assert "new version: waiting for approval, 0 of 1 so far; expires {{DATE(" in text
    assert "new version: rejected by Bob, {{DATE(" in text
    assert "“AUC dropped”" in text
    assert "new version: approved by Alice, {{DATE(" in text
    assert "deployment request: waiting for approval" in text
    link = f"[Run-7]({RUN_URL.format(run=7)})"
    assert f"pipeline 42: Deployed: {link} ({{{{DATE(" in text


@pytest.mark.slow
async def test_history_in_german_and_elsewhere(start_bot):
    bot = await start(start_bot)
    await decide(
        bot,
        REJECT,
        {"approvalId": await announce(bot, 20), "reason": "zu früh"},
        user=BOB,
        name="Bob",
    )

    german = card_text(await bot.say(f"verlauf {MODEL}", scope="channel", locale="de-DE"))
    elsewhere = card_text(await bot.say(f"history {MODEL}", scope="groupChat"))
    unknown = card_text(await bot.say("verlauf churn", scope="channel", locale="de-DE"))

    assert f"Verlauf von {MODEL}: 1 Version, neueste zuerst" in german
    assert "neue Version: abgelehnt von Bob" in german
    assert "„zu früh“" in german
    assert f"No version of {MODEL} was announced or requested in this conversation." in elsewhere
    assert "Keine Version von churn wurde in dieser Unterhaltung angekündigt" in unknown


@pytest.mark.slow
async def test_history_shows_at_most_fifteen_versions(start_bot):
    bot = await start(start_bot)
    for version in range(1, 18):
        await announce(bot, version)

    text = card_text(await bot.say(f"history {MODEL}", scope="channel"))

    assert f"History of {MODEL}: 15 versions" in text
    assert "Version 17" in text
    assert "Version 3\n" in text
    assert "Version 2\n" not in text


# --- status -------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_status_shows_the_latest_success_from_any_conversation(start_bot):
    bot = await start(start_bot)
    await deploy_history(bot)

    card = await bot.say(f"status {MODEL}")  # personal chat: nothing was announced here

    assert f"{MODEL}: deployed now" in card_text(card)
    shown = facts(card)
    assert shown["Version"] == "21"
    assert shown["From"] == "workspace ml-prod"
    assert shown["Deploys with"] == "pipeline 42"
    assert (shown["Run"], shown["Result"]) == ("Run-8", "Deployed with warnings")
    assert shown["Finished"].startswith("{{DATE(")
    assert open_urls(card) == [RUN_URL.format(run=8)]
    assert "newer" not in card_text(card)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("run_status", "status", "expected"),
    [
        (
            "failed",
            "finished",
            "A newer deployment did not succeed: version 22, Deployment failed: [Run-9]",
        ),
        (
            "in_progress",
            "triggered",
            "A newer deployment is running: version 22, Deployment in progress: [Run-9]",
        ),
    ],
)
async def test_status_tells_of_a_newer_deployment_that_did_not_succeed(
    start_bot, run_status, status, expected
):
    bot = await start(start_bot)
    group = await deploy_history(bot)
    await deployed(bot, group, "22", run_status, hours_ago=1, run=9, status=status)

    card = await bot.say(f"status {MODEL}", scope="channel")

    assert facts(card)["Version"] == "21"
    assert expected in card_text(card)


async def test_status_when_nothing_was_deployed(start_bot):
    bot = await start(start_bot)
    group = await conversation_ref(bot, "groupChat")
    await announce(bot, 20)
    await deployed(bot, group, "20", "failed", hours_ago=1, run=3)

    english = card_text(await bot.say(f"status {MODEL}", scope="channel"))
    german = card_text(await bot.say(f"status {MODEL}", scope="channel", locale="de-DE"))

    assert f"No version of {MODEL} has been deployed successfully yet." in english
    assert "A newer deployment did not succeed: version 20, Deployment failed: [Run-3]" in english
    assert f"Von {MODEL} wurde noch keine Version erfolgreich bereitgestellt." in german


# --- rollback -----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_rollback_asks_to_deploy_the_version_before_the_current_one(start_bot):
    bot = await start(start_bot, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
    await deploy_history(bot)

    card = await bot.say(f"zurücksetzen {MODEL}", scope="channel", locale="de-DE")

    assert f"Rollback-Anfrage: {MODEL} zurück auf 20" in card_text(card)
    approval_id = execute_actions(card)[0]["data"]["approvalId"]
    row = (await rows(bot, approvals))[-1]
    assert (row.id, row.kind, row.model_version_id) == (
        approval_id,
        "rollback",
        await version_id(bot, "20"),
    )
    assert row.activity_id == f"activity-{len(bot.connector.calls)}"
    assert [(a.action, a.detail) for a in await rows(bot, approval_audit)][-1] == (
        "request",
        "rollback",
    )


@pytest.mark.slow
async def test_rollback_skips_redeployments_of_the_current_version(start_bot):
    bot = await start(start_bot)
    group = await deploy_history(bot)
    await deployed(bot, group, "21", "succeeded", hours_ago=2, run=10)

    card = await bot.say(f"rollback {MODEL}", scope="channel")

    assert f"Rollback request: {MODEL} back to 20" in card_text(card)


@pytest.mark.slow
async def test_rollback_reverts_this_conversations_target_to_its_own_previous_version(start_bot):
    # Here the target is pipeline:42 (20, then 21 now); the latest deployment of all went to
    # release:7 (19), which this conversation does not deploy to.
    bot = await start(start_bot, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
    await announce(bot, 19)
    group = await deploy_history(bot)
    await deployed(bot, group, "21", "succeeded", hours_ago=2, run=12)
    await deployed(bot, group, "19", "succeeded", hours_ago=1, run=11, target="release:7")

    card = await bot.say(f"rollback {MODEL}", scope="channel")

    assert f"Rollback request: {MODEL} back to 20" in card_text(card)
    row = (await rows(bot, approvals))[-1]
    assert (row.kind, row.model_version_id, row.target) == (
        "rollback",
        await version_id(bot, "20"),
        "pipeline:42",
    )


async def test_rollback_keeps_the_target_of_what_runs_now_when_the_older_version_differs(
    start_bot,
):
    # Only versions tagged stage=prod deploy with pipeline:42 here; version 20 was not tagged.
    bot = await start(
        start_bot, RELEASEBOT_DEPLOY_TARGET="release:9", RELEASEBOT_DEPLOY_TARGETS="pipeline:42"
    )
    await bot.say(f"subscribe {MODEL} tag:stage=prod deploy=pipeline:42", scope="channel")
    await add_version(bot, "20", kind="workspace", source="ml-prod")
    await add_version(bot, "21", kind="workspace", source="ml-prod", tags='{"stage": "prod"}')
    channel = await conversation_ref(bot, "channel")
    await deployed(bot, channel, "20", "succeeded", hours_ago=5, run=20)
    await deployed(bot, channel, "21", "succeeded", hours_ago=1, run=21)

    card = await bot.say(f"rollback {MODEL}", scope="channel")

    assert f"Rollback request: {MODEL} back to 20" in card_text(card)
    row = (await rows(bot, approvals))[-1]
    assert (row.kind, row.target) == ("rollback", "pipeline:42")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en-US",
            f"No version of {MODEL} has been deployed successfully with release definition 9 (this conversation's target) yet",
        ),
        (
            "de-DE",
            f"Mit Releasedefinition 9 (dem Ziel dieser Unterhaltung) wurde noch keine Version von {MODEL}",
        ),
    ],
)
async def test_rollback_where_this_conversations_target_never_deployed_says_so(
    start_bot, locale, expected
):
    bot = await start(start_bot, RELEASEBOT_DEPLOY_TARGET="release:9")
    await deploy_history(bot)  # to pipeline:42

    card = await bot.say("rollback " + MODEL, scope="channel", locale=locale)

    assert expected in card_text(card)
    assert "rollback" not in {row.kind for row in await rows(bot, approvals)}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("locale", "deployments", "expected"),
    [
        (
            "en-US",
            [],
            f"No version of {MODEL} has been deployed successfully yet, so there is nothing to roll back to.",
        ),
        (
            "de-DE",
            [],
            f"Von {MODEL} wurde noch keine Version erfolgreich bereitgestellt",
        ),
        (
            "en-US",
            [("20", "failed"), ("21", "succeeded")],
            f"{MODEL} 21 is deployed now, and no other version was deployed successfully before it",
        ),
        (
            "de-DE",
            [("21", "partially_succeeded"), ("20", "succeeded")],
            f"Jetzt ist {MODEL} 20 bereitgestellt, und davor wurde keine andere Version",
        ),
    ],
)
async def test_rollback_without_an_earlier_success_says_why(
    start_bot, locale, deployments, expected
):
    bot = await start(start_bot)
    group = await conversation_ref(bot, "groupChat")
    for version in (20, 21):
        await decide(bot, APPROVE, {"approvalId": await announce(bot, version)})
    for hours_ago, (version, run_status) in zip((10, 5), deployments, strict=False):
        await deployed(bot, group, version, run_status, hours_ago=hours_ago, run=hours_ago)
    before = len(await rows(bot, approvals))

    word = "rollback" if locale == "en-US" else "zurücksetzen"
    text = card_text(await bot.say(f"{word} {MODEL}", scope="channel", locale=locale))

    assert expected in text
    assert len(await rows(bot, approvals)) == before


def test_a_long_history_leaves_out_older_versions_to_stay_within_teams_limits():
    now = utcnow()
    decision = DecisionSummary(
        1, "deploy", ApprovalState.REJECTED, 1, (), "Bob", "x" * 1000, None, now, now, now
    )
    entry = VersionHistory(ModelVersion("workspace", "ml-prod", MODEL, "1"), (decision,) * 5, ())

    card = history_card(Translator("en"), MODEL, [entry] * 15)

    assert len(json.dumps(card, ensure_ascii=False).encode()) < 28_000
    assert card["body"][-1]["text"].endswith(
        "older versions left out: the card would be too long for Teams."
    )
