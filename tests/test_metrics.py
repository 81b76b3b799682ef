"""GET /metrics: Prometheus text with what the bot did, from event to deployment result."""

from __future__ import annotations

import pytest
from aiohttp import ClientSession

from bot.cards.verbs import APPROVE
from bot.pipelines.azure_devops import AzureDevOps, pat_auth
from fakes.devops import PAT, PROJECT, FakeDevOps
from tests.support.approvals import announce, click, start, wait_for_update
from tests.support.events import post_events, sample
from tests.support.metrics import grew, scrape


@pytest.mark.slow
async def test_metrics_count_the_flow_from_event_to_result(start_bot, devops: FakeDevOps):
    async with ClientSession() as session:
        deployer = AzureDevOps(session, devops.organization_url, PROJECT, pat_auth(PAT))
        bot = await start(start_bot, deployer=deployer, RELEASEBOT_DEPLOY_TARGET="pipeline:42")
        before = await scrape(bot)

        approval_id = await announce(bot)
        await post_events(bot, [sample("eventgrid")], secret="wrong")
        await click(bot, APPROVE, {"approvalId": approval_id})
        await click(bot, APPROVE, {"approvalId": approval_id})
        devops.finish(1001, "succeeded")
        await wait_for_update(bot, "Deployed", within=15)
        after = await scrape(bot)

    assert grew(before, after, "releasebot_events_received_total", outcome="accepted") == 1
    assert grew(before, after, "releasebot_events_received_total", outcome="refused") == 1
    assert grew(before, after, "releasebot_versions_recorded_total", via="event") == 1
    assert grew(before, after, "releasebot_cards_total", outcome="sent") == 1
    assert (
        grew(
            before, after, "releasebot_approval_clicks_total", action="approve", outcome="recorded"
        )
        == 1
    )
    assert (
        grew(before, after, "releasebot_approval_clicks_total", action="approve", outcome="refused")
        == 1
    )
    assert grew(before, after, "releasebot_runs_total", result="succeeded") == 1
    assert grew(before, after, "releasebot_approval_click_seconds_count") == 2
    assert grew(before, after, "releasebot_devops_request_seconds_count", method="POST") == 1
    assert grew(before, after, "releasebot_card_send_seconds_count") == 1


async def test_with_a_metrics_token_only_a_scraper_that_sends_it_gets_the_metrics(start_bot):
    bot = await start_bot(RELEASEBOT_METRICS_TOKEN="scrape-8e1c")
    url = bot.server.make_url("/metrics")

    async with bot.session.get(url) as anonymous:
        refused = anonymous.status
    async with bot.session.get(url, headers={"Authorization": "Bearer wrong"}) as wrong:
        forged = wrong.status
    async with bot.session.get(url, headers={"Authorization": "Bearer scrape-8e1c"}) as right:
        served = right.status, await right.text()

    assert (refused, forged) == (401, 401)
    assert served[0] == 200
    assert "releasebot_runs_total" in served[1]
