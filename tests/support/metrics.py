"""Reading /metrics: every sample by name and labels, and how much one grew."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.bot import BotUnderTest

Sample = tuple[str, tuple[tuple[str, str], ...]]


async def scrape(bot: BotUnderTest) -> dict[Sample, float]:
    """Every sample of /metrics, by name and labels."""
    async with bot.session.get(bot.server.make_url("/metrics")) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def grew(
    before: dict[Sample, float], after: dict[Sample, float], name: str, **labels: str
) -> float:
    """How much the sample ``name`` with ``labels`` grew from ``before`` to ``after``."""
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)
