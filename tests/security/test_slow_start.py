"""Exactly once under slow starts (#15): a deployment whose start outlasts its claim, or whose
create times out although Azure DevOps carries it out, still gets one run or release.

Replicas are deployment workers on one store with a short claim lease; the deployment is due and
unclaimed, as after its writer died. The fake Azure DevOps counts what was really started.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.pipelines import dispatcher
from bot.pipelines.azure_devops import AzureDevOps, pat_auth, search
from bot.pipelines.deployer import Deployer, DeploymentRequest, RunInfo
from bot.pipelines.dispatcher import DeploymentWorker
from bot.store.clock import utcnow
from bot.store.deployments import DeploymentStore
from bot.store.tables import deployments
from domain.target import Target
from fakes.devops import PAT, PROJECT, FakeDevOps
from tests.support.outbox import queued_store
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

LEASE = timedelta(seconds=0.3)
SLOW = 4 * LEASE.total_seconds()
"""How long Azure DevOps takes to start a run in these tests: several claim leases."""
MODEL, VERSION = "m", "0"  # the version that queued_store records
TARGETS = ("pipeline:42", "release:12")
Due = Callable[[str], Awaitable[DeploymentStore]]


@pytest.fixture
async def fake(devops: FakeDevOps) -> FakeDevOps:
    """The fake Azure DevOps with pipeline 42 and release definition 12, listing the version."""
    devops.add_release_definition(12, MODEL)
    devops.add_model_version(12, f"_{MODEL}", VERSION, VERSION)
    return devops


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def client(fake: FakeDevOps, session: aiohttp.ClientSession, timeout: float = 10.0) -> AzureDevOps:
    return AzureDevOps(
        session,
        fake.organization_url,
        PROJECT,
        pat_auth(PAT),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


@pytest.fixture
async def due(database_url: str) -> AsyncIterator[Due]:
    """Makes the store: one approved deployment to a target, due now and claimed by nobody."""
    engines: list[AsyncEngine] = []

    async def deployment_to(target: str) -> DeploymentStore:
        store = await queued_store(database_url, versions=1)
        engines.append(store.engine)
        (announcement,) = await store.outbox.claim(1, timedelta(seconds=60))
        now = utcnow()
        async with store.engine.begin() as connection:
            await connection.execute(
                insert(deployments).values(
                    approval_id=announcement.approval_id,
                    model_version_id=announcement.version_id,
                    deployment_key="mrb-1-5l0w",
                    target=target,
                    requested_by="Ada",
                    status="requested",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                    result_reported=False,
                )
            )
        return DeploymentStore(store.engine)

    yield deployment_to
    for engine in engines:
        await engine.dispose()


def replica(store: DeploymentStore, deployer: Deployer, **options: Any) -> DeploymentWorker:
    return DeploymentWorker(store, deployer, lambda: None, lease=LEASE, idle_poll=0.02, **options)


@asynccontextmanager
async def working(*workers: DeploymentWorker) -> AsyncIterator[None]:
    """The workers poll the store, as replicas do, until the block ends."""
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        yield
    finally:
        await asyncio.gather(*(worker.stop(grace=5.0) for worker in workers))
        for task in tasks:
            task.cancel()


async def run_recorded(store: DeploymentStore) -> bool:
    """Whether the deployment has recorded a run."""
    return await recorded_runs(store) != [None]


async def recorded_runs(store: DeploymentStore) -> list[int | None]:
    """The run each deployment row points at."""
    async with store.engine.connect() as connection:
        return list((await connection.execute(select(deployments.c.run_id))).scalars())


def started(fake: FakeDevOps) -> list[int]:
    """The ids of every run and release the fake Azure DevOps created."""
    return [*fake.builds, *fake.releases]


@pytest.mark.both_stores
@pytest.mark.parametrize("target", TARGETS)
async def test_a_start_slower_than_the_claim_is_not_taken_over(
    due: Due, fake: FakeDevOps, session: aiohttp.ClientSession, target: str
):
    store = await due(target)
    fake.commit_slowly(SLOW)
    first, second = replica(store, client(fake, session)), replica(store, client(fake, session))

    async with working(first, second):
        await wait_until(lambda: started(fake), within=10)
        await asyncio.sleep(SLOW)  # the slow start has been carried out by now

    assert len(started(fake)) == 1
    assert await recorded_runs(store) == started(fake)


class SlowSearch:
    """A deployer whose searches answer late, with what Azure DevOps listed when they asked."""

    def __init__(self, deployer: Deployer, delay: float) -> None:
        self._deployer, self._delay = deployer, delay

    async def find(self, request: DeploymentRequest) -> RunInfo | None:
        found = await self._deployer.find(request)
        await asyncio.sleep(self._delay)
        return found

    async def create(self, request: DeploymentRequest) -> RunInfo:
        return await self._deployer.create(request)

    async def status(self, target: Target, run_id: int) -> RunInfo:
        return await self._deployer.status(target, run_id)


async def test_a_worker_whose_claim_ran_out_during_its_search_does_not_create(
    due: Due, fake: FakeDevOps, session: aiohttp.ClientSession
):
    store = await due("pipeline:42")
    late = replica(store, SlowSearch(client(fake, session), SLOW))
    other = replica(store, client(fake, session))

    async with working(late):
        await fake.wait_for_requests_to("GET", "/build/builds", 1)  # the late one claimed it
        async with working(other):
            await wait_until(lambda: started(fake), within=10)
            await asyncio.sleep(SLOW + LEASE.total_seconds())  # the late search has ended

    assert len(started(fake)) == 1
    assert await recorded_runs(store) == started(fake)


@pytest.mark.parametrize("target", TARGETS)
async def test_a_create_that_timed_out_but_was_carried_out_is_found_not_repeated(
    due: Due, fake: FakeDevOps, session: aiohttp.ClientSession, target: str
):
    store = await due(target)
    fake.commit_slowly(SLOW)  # carried out after the client stopped waiting
    impatient = client(fake, session, timeout=LEASE.total_seconds())
    worker = replica(store, impatient, commit_grace=timedelta(seconds=SLOW + 0.5))

    async with working(worker):
        await wait_until(lambda: run_recorded(store), within=10)
        await asyncio.sleep(SLOW)  # the create that timed out has been carried out by now

    assert len(started(fake)) == 1
    assert await recorded_runs(store) == started(fake)


async def test_an_inconclusive_search_starts_nothing(
    due: Due, fake: FakeDevOps, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
):
    fake.add_pipeline(43, "deploy-without-the-name-line", run_name=None)
    devops = client(fake, session)
    for other in ("mrb-2-0ther", "mrb-3-0ther"):
        await devops.create(deploying(other, "pipeline:43"))
    # The search reads 1 page of 1 run: it cannot tell whether one of the others is ours.
    monkeypatch.setattr(search, "MAX_PAGES", 1)
    monkeypatch.setattr(search, "PAGE_SIZE", 1)
    store = await due("pipeline:43")

    async with working(replica(store, devops)):
        # Three tries, each searching by the run name, then scanning the runs.
        await wait_until(lambda: searches(fake) >= 6 or len(started(fake)) > 2, within=10)

    assert len(started(fake)) == 2
    assert await recorded_runs(store) == [None]


def searches(fake: FakeDevOps) -> int:
    return len(fake.requests_to("GET", "/build/builds"))


def deploying(key: str, target: str) -> DeploymentRequest:
    return DeploymentRequest(
        deployment_key=key,
        target=Target.parse(target),
        model_name=MODEL,
        model_version=VERSION,
        source="ws",
        requested_by="Ada",
        not_before=utcnow(),
    )


async def test_a_last_start_without_an_answer_is_searched_for_not_reported_as_failed(
    due: Due, fake: FakeDevOps, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(dispatcher, "MAX_START_ATTEMPTS", 1)  # this create is the last one
    store = await due("pipeline:42")
    fake.commit_slowly(SLOW)
    impatient = client(fake, session, timeout=LEASE.total_seconds())
    worker = replica(store, impatient, commit_grace=timedelta(seconds=SLOW + 0.5))

    async with working(worker):
        await wait_until(lambda: run_recorded(store), within=10)

    assert len(started(fake)) == 1
    assert await recorded_runs(store) == started(fake)
    async with store.engine.connect() as connection:
        assert await connection.scalar(select(deployments.c.status)) == "triggered"
