"""Three bot processes on one PostgreSQL database, as a platform team runs them behind a load
balancer: every announcement is sent once, 100 Approve clicks spread over the replicas start one
run, and a replica killed (SIGKILL) with cards still to send loses none of them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from bot.cards.verbs import APPROVE
from fakes.azureml import FakeArm
from fakes.devops import FakeDevOps
from fakes.identity import SigningKeys
from tests.support.activities import CONVERSATIONS, card_action, installation, message
from tests.support.bot_process import BotProcess, process_environment, release_claims
from tests.support.cards import card_title, execute_actions
from tests.support.connector import RecordingConnector
from tests.support.events import registered, sample
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.parametrize("store_kind", ["postgresql"], indirect=True),
    pytest.mark.slow,
]
SCOPES = ("channel", "groupChat", "personal")
ANNOUNCED = "New version: sklearn_regression_model "


@pytest.fixture
async def replicas(
    jwks_server: str,
    signing_keys: SigningKeys,
    devops: FakeDevOps,
    database_url: str,
    arm: FakeArm,
) -> AsyncIterator[list[BotProcess]]:
    env = process_environment(database_url, arm, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
    bots = [BotProcess(env, jwks_server, devops.organization_url, signing_keys) for _ in SCOPES]
    try:
        await bots[0].start()  # the first migrates the database; the others find it migrated
        await asyncio.gather(*(bot.start() for bot in bots[1:]))
        # The poller's first poll is done: the versions registered from now on come by events.
        await wait_until(lambda: any_polled(bots), within=20)
        yield bots
    finally:
        await asyncio.gather(*(bot.close() for bot in bots))


async def any_polled(bots: list[BotProcess]) -> bool:
    return any(await asyncio.gather(*(bot.polled() for bot in bots)))


def announced(connector: RecordingConnector) -> Counter[tuple[str, str]]:
    """How often each conversation got the card of each version."""
    return Counter(
        (call.conversation_id, card_title(card))
        for call in connector.calls
        if call.method == "POST" and call.path.endswith("/activities")
        for card in [a["content"] for a in call.body.get("attachments") or []]
        if card_title(card).startswith(ANNOUNCED)
    )


async def subscribe_everywhere(bots: list[BotProcess], connector: RecordingConnector) -> None:
    """A channel, a group chat and a personal chat subscribe, each through another replica."""
    for bot, scope in zip(bots, SCOPES, strict=True):
        await bot.post_activity(installation(connector.url, "add", scope=scope), connector.url)
        await bot.post_activity(
            message(connector.url, "subscribe sklearn_*", scope=scope), connector.url
        )


async def test_three_replicas_send_each_card_once_and_start_one_run_for_100_clicks(
    replicas: list[BotProcess], connector: RecordingConnector, devops: FakeDevOps, arm: FakeArm
):
    await subscribe_everywhere(replicas, connector)

    # Every replica gets every event, as with redeliveries behind a load balancer.
    await asyncio.gather(
        *(
            bot.post_event(registered(arm, [sample("eventgrid", version=v)]))
            for v in range(20, 25)
            for bot in replicas
        )
    )
    await wait_until(lambda: sum(announced(connector).values()) >= 15, within=20)
    await asyncio.sleep(0.5)  # a second copy, if there were one, would come now
    counts = announced(connector)

    channel_card = next(
        card
        for call in connector.calls
        if call.conversation_id == CONVERSATIONS["channel"]
        for card in [a["content"] for a in call.body.get("attachments") or []]
        if card_title(card) == ANNOUNCED + "20"
    )
    approval_id = execute_actions(channel_card)[0]["data"]["approvalId"]
    clicks = [
        replicas[n % 3].post_activity(
            card_action(
                connector.url,
                APPROVE,
                {"approvalId": approval_id},
                user=f"00000000-0000-0000-0000-{n:012d}",
                name=f"User {n}",
            ),
            connector.url,
        )
        for n in range(100)
    ]
    await asyncio.gather(*clicks)
    await wait_until(lambda: devops.runs_created > 0, within=20)
    await asyncio.sleep(1.0)

    assert counts == Counter(
        {(CONVERSATIONS[scope], ANNOUNCED + str(v)): 1 for scope in SCOPES for v in range(20, 25)}
    )
    assert devops.runs_created == 1


async def test_a_replica_killed_with_cards_to_send_loses_none(
    replicas: list[BotProcess], connector: RecordingConnector, database_url: str, arm: FakeArm
):
    await subscribe_everywhere(replicas, connector)
    dying = replicas[2]
    connector.refusals = [(503, {"Retry-After": "30"})] * 3  # Teams is busy for a moment

    event = registered(arm, [sample("eventgrid", version=30)])
    await dying.post_event(event)  # stored, queued, claimed by it
    await wait_until(lambda: len(connector.refused) == 3)  # it tried, and must try again later
    dying.kill()
    await dying.wait()
    orphaned = await release_claims(database_url)
    await wait_until(lambda: len(announced(connector)) == 3, within=20)
    await asyncio.sleep(0.5)

    assert orphaned == 3  # it died with the three cards still to send
    assert announced(connector) == Counter(
        {(CONVERSATIONS[scope], ANNOUNCED + "30"): 1 for scope in SCOPES}
    )
