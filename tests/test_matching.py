"""Subscriptions match model versions by name glob, source and tags; the SQL pre-filter agrees."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.matching import literal_prefix, matches, possible_prefixes
from bot.store.engine import create_engine
from bot.store.migrate import upgrade
from bot.store.store import Store
from domain.records import ModelVersion, Subscription
from tests.support.store import conversation

VERSION = ModelVersion(
    "workspace", "ML-Prod", "Fraud_Detector", "3", tags={"stage": "prod", "team": "risk"}
)


def subscription(pattern: str, source: tuple[str, str] | None = None, **tags: str) -> Subscription:
    kind, name = source or (None, None)
    return Subscription(1, 1, pattern, kind, name, tags)


@pytest.mark.parametrize(
    ("sub", "expected"),
    [
        (subscription("Fraud_Detector"), True),
        (subscription("fraud_*"), True),
        (subscription("*detector"), True),
        (subscription("fraud_detecto?"), True),
        (subscription("[fg]raud_*"), True),
        (subscription("fraud"), False),
        (subscription("churn*"), False),
        (subscription("fraud_*", ("workspace", "ml-prod")), True),
        (subscription("fraud_*", ("workspace", "ml-dev")), False),
        (subscription("fraud_*", ("registry", "ml-prod")), False),
        (subscription("*", stage="prod"), True),
        (subscription("*", stage="prod", team="risk"), True),
        (subscription("*", stage="Prod"), False),
        (subscription("*", owner="risk"), False),
    ],
)
def test_a_subscription_matches_when_every_filter_passes(sub, expected):
    assert matches(sub, VERSION) is expected


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [("Fraud_*", "fraud_"), ("*x", ""), ("abc", "abc"), ("a?c", "a"), ("ab[cd]", "ab")],
)
def test_the_literal_prefix_is_the_text_before_the_first_wildcard(pattern, prefix):
    assert literal_prefix(pattern) == prefix


@pytest.mark.parametrize(
    "pattern",
    ["Fraud_Detector", "fraud_*", "*detector", "FRAUD_d?tector", "[fg]raud_*", "fraud", "fraud_x*"],
)
def test_a_matching_patterns_prefix_is_among_those_the_store_looks_up(pattern):
    sub = subscription(pattern)

    looked_up = literal_prefix(pattern) in possible_prefixes(VERSION.name)

    assert looked_up is VERSION.name.lower().startswith(literal_prefix(pattern))
    assert looked_up or not matches(sub, VERSION)


def test_a_pattern_longer_than_the_name_is_not_looked_up():
    assert literal_prefix("fraud_detector_v2") not in possible_prefixes(VERSION.name)


@pytest.mark.both_stores
async def test_the_store_queues_exactly_the_matching_conversations(database_url):
    engine = create_engine(database_url)
    await upgrade(engine)
    store = Store(engine)
    patterns = {
        "a": ("FRAUD_*", None),
        "b": ("*", ("workspace", "ml-prod")),
        "c": ("fraud_d?tector", None),
        "d": ("fraud_x*", None),
        "e": ("*", ("registry", "ml-prod")),
        "f": ("f*", ("workspace", "other")),
        "g": ("fraud_detector_v2", None),
    }
    refs = {}
    for key, (pattern, source) in patterns.items():
        refs[key], _ = await store.conversations.save(conversation(f"19:{key}@thread.tacv2"))
        await store.subscriptions.add(
            refs[key], pattern, source=source, tags={}, created_by=None, created_by_name=None
        )

    recorded = await store.versions.record(VERSION, "event", timedelta(seconds=60))

    assert sorted(item.conversation_ref for item in recorded.claimed) == [
        refs["a"],
        refs["b"],
        refs["c"],
    ]
    await engine.dispose()
