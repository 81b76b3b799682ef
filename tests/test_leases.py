"""Several replicas on one store: only the holder of the poller's lease polls, and another
replica takes over when the holder stops renewing it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.outbox import OutboxSender
from bot.registry.watcher import POLLER_LEASE, RegistryWatcher
from bot.store.engine import create_engine
from bot.store.leases import Leases
from bot.store.migrate import upgrade
from bot.store.store import Store
from fakes.azureml import FakeArm
from tests.support.outbox import RecordingChannel

pytestmark = pytest.mark.both_stores
SHORT = timedelta(seconds=2)  # long enough for a loaded machine between two steps


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield Store(engine)
    await engine.dispose()


@pytest.mark.slow
async def test_a_lease_has_one_holder_until_it_runs_out_or_is_given_back(store: Store):
    leases = Leases(store.engine)

    assert await leases.hold(POLLER_LEASE, "a", SHORT)
    assert not await leases.hold(POLLER_LEASE, "b", SHORT)
    assert await leases.hold(POLLER_LEASE, "a", SHORT)  # renewed
    await asyncio.sleep(2.1)
    assert await leases.hold(POLLER_LEASE, "b", SHORT)  # a stopped renewing: b takes over
    assert not await leases.hold(POLLER_LEASE, "a", SHORT)
    await leases.give_back(POLLER_LEASE, "a")  # not a's to give back
    assert not await leases.hold(POLLER_LEASE, "a", SHORT)
    await leases.give_back(POLLER_LEASE, "b")
    assert await leases.hold(POLLER_LEASE, "a", SHORT)


async def test_concurrent_replicas_take_the_lease_once(store: Store):
    leases = Leases(store.engine)

    taken = await asyncio.gather(*(leases.hold(POLLER_LEASE, f"r{n}", SHORT) for n in range(20)))

    assert sum(taken) == 1


def replica(store: Store, arm: FakeArm) -> RegistryWatcher:
    sender = OutboxSender(store, RecordingChannel())
    return RegistryWatcher(store, [arm.registry()], sender, interval=60.0, lease=SHORT)


@pytest.mark.slow
async def test_one_replica_polls_and_another_takes_over_when_it_dies(store: Store, arm: FakeArm):
    first, second = replica(store, arm), replica(store, arm)
    for warm_up in (first, second):  # azure-ai-ml's first import takes longer than the lease
        await warm_up._registries[0].containers()
    arm.requests.clear()

    await first._cycle()
    await second._cycle()
    waiting = second.health()
    polled_while_the_first_lived = arm.requests["containers"]
    await asyncio.sleep(2.1)  # the first died: it renews no more
    await second._cycle()

    assert polled_while_the_first_lived == 1
    assert arm.requests["containers"] == 2
    assert "another replica polls" in waiting["detail"]
    assert second.health() == {"ok": True, "detail": "1 source(s) polled"}


async def test_a_replica_that_stops_gives_the_lease_back_at_once(store: Store, arm: FakeArm):
    first, second = replica(store, arm), replica(store, arm)
    polled = asyncio.Event()
    poll = first._poll_safely

    async def poll_and_tell(registry: Any) -> float:
        delay = await poll(registry)
        polled.set()
        return delay

    first._poll_safely = poll_and_tell  # type: ignore[method-assign]
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(polled.wait(), 10)

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await second._cycle()

    assert arm.requests["containers"] == 2


async def test_a_replica_stopped_mid_poll_finishes_the_source_and_gives_the_lease_back(
    store: Store, arm: FakeArm
):
    first = replica(store, arm)
    registry = first._registries[0]
    listing, go_on = asyncio.Event(), asyncio.Event()
    list_versions = registry.versions

    async def slow_versions(model_name: str) -> Any:
        listing.set()
        await go_on.wait()
        return await list_versions(model_name)

    registry.versions = slow_versions  # type: ignore[method-assign]
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(listing.wait(), 10)
    stopping = asyncio.create_task(first.stop(grace=10))
    await asyncio.sleep(0.05)
    go_on.set()
    await asyncio.wait_for(stopping, 10)

    assert running.done()
    assert not running.cancelled()
    assert await store.sources.watermarks(registry.source_kind, registry.source_name) == {
        "fraud_model": "1"
    }
    assert await Leases(store.engine).hold(POLLER_LEASE, "second", SHORT)


async def test_a_replica_stuck_in_a_poll_is_cancelled_after_the_grace(store: Store, arm: FakeArm):
    first = replica(store, arm)
    registry = first._registries[0]
    listing = asyncio.Event()

    async def stuck_versions(_model_name: str) -> Any:
        listing.set()
        await asyncio.Event().wait()

    registry.versions = stuck_versions  # type: ignore[method-assign]
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(listing.wait(), 10)
    await first.stop(grace=0.1)

    assert running.cancelled()
    assert await Leases(store.engine).hold(POLLER_LEASE, "second", SHORT)
