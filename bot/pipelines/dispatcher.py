"""The deployment worker: starts each approved deployment exactly once, then follows it to its end.

A deployment row is claimed with a lease (a compare-and-set), so one worker at a time holds it.
Starting is "find, else create": the run carries our deployment key, so after a crash between
"Azure DevOps accepted" and "we recorded it", the next claim finds the run instead of starting a
second one. Right before the create the worker checks that its claim is still its own (its search
may have outlasted it), and holds the claim while Azure DevOps answers, however long that takes.
A create without an answer may have been carried out: the next try searches for it, not before
Azure DevOps would list it. Throttling and server errors are retried with backoff; 401, 403, 404
and 400 end the attempt with what to fix, shown on the card. Following polls with a growing
interval, and a service hook makes the next poll happen at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from bot.failpoints import reached
from bot.heartbeat import held
from bot.logs import correlated, version_correlation
from bot.metrics import RUNS
from bot.pipelines.deployer import (
    Deployer,
    DeployError,
    DeployErrorCode,
    DeploymentRequest,
    RunInfo,
)
from bot.retrying import backoff
from bot.store.deployments import DeploymentStore
from bot.workers import ClaimWorker
from domain.records import DeploymentJob, RunUpdate
from domain.statuses import DeploymentStatus
from domain.target import Target

log = logging.getLogger(__name__)

MAX_START_ATTEMPTS = 12
FINAL_SEARCHES = 3
"""After the last start attempt got no answer, how many tries only search for the run it may
have made (never create): a run Azure DevOps made is followed, not reported as "not started"."""
FIRST_POLL = 3.0
MAX_POLL = 60.0
COMMIT_GRACE = timedelta(seconds=60)
"""How long after a create that got no answer the next try (which searches first) begins: Azure
DevOps may still carry out a request the client stopped waiting for (after 30 s), and lists the
run only once it is committed. The claim's lease is longer, so a worker that dies during a create
is not taken over sooner either."""


def poll_delay(unchanged_polls: int) -> timedelta:
    """How long to wait before reading a run again: soon at first, then less often."""
    return timedelta(seconds=min(MAX_POLL, FIRST_POLL * 1.5**unchanged_polls))


class DeploymentWorker(ClaimWorker):
    """Claims due deployments: starts the requested ones, follows the triggered ones."""

    def __init__(
        self,
        store: DeploymentStore,
        deployer: Deployer | None,
        on_change: Callable[[], None],
        *,
        lease: timedelta = timedelta(seconds=120),
        idle_poll: float = 1.0,
        batch_size: int = 20,
        commit_grace: timedelta = COMMIT_GRACE,
    ) -> None:
        super().__init__("deployment worker", idle_poll=idle_poll)
        self._store = store
        self._deployer = deployer
        self._on_change = on_change
        self._lease = lease
        self._commit_grace = commit_grace
        self._batch_size = batch_size

    def dispatch(self, job: DeploymentJob) -> None:
        """Start a deployment its writer has just requested and claimed, without a poll.

        Its first try skips the search for an earlier run: nobody can have started it yet. Any
        later try (after a failure, or by another worker once the claim ran out) searches first.
        """
        self._spawn(self._correlated(job, fresh=True))

    async def work_once(self) -> int:
        """Claim the due deployments and handle them; how many were claimed."""
        jobs = await self._store.claim(self._batch_size, self._lease)
        await asyncio.gather(*(self._correlated(job) for job in jobs))
        return len(jobs)

    async def _correlated(self, job: DeploymentJob, *, fresh: bool = False) -> None:
        with correlated(version_correlation(job.source, job.model_name, job.model_version)):
            await self._handle(job, fresh=fresh)

    async def _handle(self, job: DeploymentJob, *, fresh: bool = False) -> None:
        try:
            if self._deployer is None:
                await self._store.failed(job, "not_configured", "Azure DevOps is not configured")
                RUNS.labels(result="error").inc()
            elif job.status is DeploymentStatus.REQUESTED:
                await self._start(self._deployer, job, fresh=fresh)
            else:
                await self._follow(self._deployer, job)
        except DeployError as error:
            await self._refused(job, error)
        except Exception:
            # Nothing is lost: the claim runs out and the deployment is found or read again.
            log.exception("deployment %d failed unexpectedly; retried after its claim", job.id)
            return
        self._on_change()

    async def _start(self, deployer: Deployer, job: DeploymentJob, *, fresh: bool) -> None:
        request = DeploymentRequest(
            deployment_key=job.key,
            target=Target.parse(job.target),
            model_name=job.model_name,
            model_version=job.model_version,
            source=job.source,
            requested_by=job.requested_by,
            not_before=job.created_at,
        )
        found = None if fresh else await deployer.find(request)
        if found is None and job.attempts >= MAX_START_ATTEMPTS:  # a final search: no create
            detail = "no answer to the last start, and no run of it was found after it"
            await self._give_up(job, DeployError(DeployErrorCode.UNAVAILABLE, detail))
            return
        run = found or await self._create(deployer, job, request)
        if run is None:
            return
        reached("devops_called")
        log.info(
            "deployment %d %s as run %d (%s)",
            job.id,
            "found" if found else "started",
            run.run_id,
            job.target,
        )
        await self._store.triggered(job, _update(run), poll_delay(0))
        reached("run_recorded")
        if run.status.final:
            RUNS.labels(result=run.status).inc()
        self._wake_later(poll_delay(0).total_seconds())

    async def _create(
        self, deployer: Deployer, job: DeploymentJob, request: DeploymentRequest
    ) -> RunInfo | None:
        """Create the run while holding the claim; None if another worker claimed it since. A
        create without an answer is tried again (searched for first) after the commit grace."""
        renew = partial(self._store.renew, job, self._lease)
        if not await renew():
            log.info("deployment %d was taken over by another worker; not started here", job.id)
            return None
        try:
            async with held(renew, self._lease):
                return await deployer.create(request)
        except DeployError as error:
            if not error.uncertain:
                raise
            grace = max(error.retry_after or 0.0, self._commit_grace.total_seconds())
            raise DeployError(
                error.code, error.detail, status=error.status, retry_after=grace
            ) from error

    async def _follow(self, deployer: Deployer, job: DeploymentJob) -> None:
        assert job.run_id is not None  # noqa: S101 - triggered rows carry their run
        run = await deployer.status(Target.parse(job.target), job.run_id)
        delay = poll_delay(0 if run.status != job.run_status else job.attempts + 1)
        await self._store.progressed(job, _update(run), delay)
        if run.status.final:
            RUNS.labels(result=run.status).inc()
        else:
            self._wake_later(delay.total_seconds())

    async def _refused(self, job: DeploymentJob, error: DeployError) -> None:
        starting = job.status is DeploymentStatus.REQUESTED
        searches_left = error.uncertain and job.attempts + 1 < MAX_START_ATTEMPTS + FINAL_SEARCHES
        exhausted = job.attempts + 1 >= MAX_START_ATTEMPTS and not searches_left
        if starting and (not error.retryable or exhausted):
            await self._give_up(job, error)
            return
        # A run we follow is retried whatever the error: it runs on without us.
        delay = backoff(job.attempts, error.retry_after)
        log.warning("deployment %d: %s; next try in %.1f s", job.id, error, delay)
        await self._store.retry(job, timedelta(seconds=delay), error.code.value, error.detail)
        self._wake_later(delay)

    async def _give_up(self, job: DeploymentJob, error: DeployError) -> None:
        log.error("deployment %d could not start: %s", job.id, error)
        await self._store.failed(job, error.code.value, error.detail)
        RUNS.labels(result="error").inc()

    def _wake_later(self, seconds: float) -> None:
        asyncio.get_running_loop().call_later(seconds + 0.01, self.wake)


def _update(run: RunInfo) -> RunUpdate:
    return RunUpdate(
        run_id=run.run_id,
        name=run.name,
        status=run.status,
        final=run.status.final,
        web_url=run.web_url,
        logs_url=run.logs_url,
        detail=run.detail,
    )
