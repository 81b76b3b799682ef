"""The poll loop: the fallback that never misses a version, whatever happened to Event Grid.

Per workspace or registry, one cycle lists the models (one request per page) and lists versions
only for models whose latest version moved past the stored watermark. A source's first poll (the
baseline) records every existing version: those created before the bot began watching the source
as known, without announcing them; those created since as new, announced, since their events may
have come before (and been deferred) or be still to come (and find them known). Versions are
recorded like pushed ones (one per source, name and version), so a version that Event Grid already
delivered is not announced twice; watermarks are stored, so versions registered while the bot was
down are announced after the restart. Events never move a watermark: a version whose event could
not be checked against Azure ML is found by the next cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from bot.metrics import VERSIONS
from bot.outbox import OutboxSender
from bot.registry.azureml import ModelRegistry, failure_reason
from bot.retrying import backoff
from bot.store.clock import aware
from bot.store.leases import Leases
from bot.store.store import Store
from domain.records import ModelVersion

log = logging.getLogger(__name__)

POLLER_LEASE = "poller"
LEASE_CYCLES = 3
"""The lease lasts this many intervals: a replica that missed as many is taken over."""
MIN_LEASE_SECONDS = 30.0

JITTER = 0.1
MAX_ERROR_DELAY = 600.0


class RegistryWatcher:
    """Polls every configured registry, with jitter, backing off when one fails. Of several
    replicas on one store, only the holder of the poller's lease polls; another takes over when
    the holder stops renewing it (``LEASE_CYCLES`` intervals)."""

    def __init__(
        self,
        store: Store,
        registries: list[ModelRegistry],
        sender: OutboxSender,
        interval: float,
        *,
        lease: timedelta | None = None,
    ) -> None:
        self._store = store
        self._registries = registries
        self._sender = sender
        self._interval = interval
        self._leases = Leases(store.engine)
        self._replica = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._ttl = lease or timedelta(seconds=max(LEASE_CYCLES * interval, MIN_LEASE_SECONDS))
        self._leading = False
        self._failures: dict[str, int] = {}
        self._status: dict[str, str | None] = _not_polled_yet(registries)
        self._stopping = asyncio.Event()
        self._running: asyncio.Task[None] | None = None

    def health(self) -> dict[str, Any]:
        """The readiness entry: ok, or what is wrong with which source."""
        problems = [f"{label}: {reason}" for label, reason in self._status.items() if reason]
        if not self._registries:
            return {"ok": False, "reason": "no Azure ML workspace or registry is configured"}
        if not self._leading and self._status == _not_polled_yet(self._registries):
            return {"ok": True, "detail": "another replica polls (it holds the poller's lease)"}
        if problems:
            return {"ok": False, "reason": "; ".join(problems)}
        return {"ok": True, "detail": f"{len(self._registries)} source(s) polled"}

    async def run(self) -> None:
        """Poll while this replica holds the poller's lease, until stopped or cancelled; then give
        it back."""
        self._running = asyncio.current_task()
        try:
            while not self._stopping.is_set():
                delay = await self._cycle()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            if self._leading:
                with contextlib.suppress(Exception):  # the lease runs out by itself anyway
                    await asyncio.shield(self._leases.give_back(POLLER_LEASE, self._replica))

    async def stop(self, grace: float) -> None:
        """End :meth:`run` after the source in hand, cancelling it after ``grace`` seconds: a
        poll cut off inside a write would hold the store's lock past the shutdown."""
        self._stopping.set()
        running = self._running
        if running is None:
            return
        _done, late = await asyncio.wait([running], timeout=grace)
        if late:
            running.cancel()
            await asyncio.wait([running], timeout=grace)

    async def _cycle(self) -> float:
        """One round: take or renew the lease, and poll if it is ours; the seconds to the next."""
        try:
            leading = await self._leases.hold(POLLER_LEASE, self._replica, self._ttl)
        except Exception as error:
            log.error("the poller's lease could not be read: %s", type(error).__name__)  # noqa: TRY400
            leading = False
        if leading != self._leading:
            log.info("this replica %s polls", "now" if leading else "no longer")
            self._leading = leading
            self._status = _not_polled_yet(self._registries)
        if not leading:
            return self._interval
        delays = []
        for registry in self._registries:
            if self._stopping.is_set():
                break
            delays.append(await self._poll_safely(registry))
        return min(delays, default=self._interval)

    async def _poll_safely(self, registry: ModelRegistry) -> float:
        """Poll one source; the seconds until it should be polled again."""
        label = _label(registry)
        try:
            await self.poll(registry)
        except Exception as error:
            failures = self._failures[label] = self._failures.get(label, 0) + 1
            reason = failure_reason(error)
            if reason != self._status.get(label):  # one clear line per distinct problem
                log.error("polling %s failed: %s", label, reason)  # noqa: TRY400
                log.debug("polling %s failed", label, exc_info=error)
            self._status[label] = reason
            return min(MAX_ERROR_DELAY, max(self._interval, backoff(failures, None)))
        if self._status.get(label):
            log.info("polling %s works", label)
        self._failures[label] = 0
        self._status[label] = None
        return self._interval * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter

    async def poll(self, registry: ModelRegistry) -> int:
        """One cycle for one source; how many new versions were recorded."""
        kind, name = registry.source_kind, registry.source_name
        marks = await self._store.sources.watermarks(kind, name)
        if marks is None:
            return await self._baseline(registry)
        recorded = 0
        for container in await registry.containers():
            latest = container.latest_version
            if latest is None or marks.get(container.name) == latest:
                continue
            versions = await registry.versions(container.name)
            recorded += await self._record(await self._store.versions.news(versions))
            await self._store.sources.set_watermark(kind, name, container.name, latest)
        if recorded:
            log.info("polling %s found %d new version(s)", _label(registry), recorded)
        return recorded

    async def _baseline(self, registry: ModelRegistry) -> int:
        """The source's first poll: remember the versions created before the bot began watching
        it, record (and announce) the others; how many of those were new."""
        kind, name = registry.source_kind, registry.source_name
        since = aware(await self._store.sources.start_watching(kind, name))
        containers = await registry.containers()
        recorded = 0
        for container in containers:
            old, new = _created_since(await registry.versions(container.name), since)
            await self._store.versions.remember(old, "poll")
            recorded += await self._record(new)
            if container.latest_version is not None:
                await self._store.sources.set_watermark(
                    kind, name, container.name, container.latest_version
                )
        await self._store.sources.mark_baselined(kind, name)
        log.info(
            "%s: %d model(s) known; %d version(s) registered since the bot watches it "
            "announced, and new versions from now on",
            _label(registry),
            len(containers),
            recorded,
        )
        return recorded

    async def _record(self, versions: list[ModelVersion]) -> int:
        """Record ``versions`` and send their announcements; how many were new."""
        recorded = 0
        for version in versions:
            result = await self._store.versions.record(version, "poll", self._sender.lease)
            recorded += result.new
            VERSIONS.labels(via="poll").inc(result.new)
            self._sender.dispatch(result)
        return recorded


def _created_since(
    versions: list[ModelVersion], since: datetime
) -> tuple[list[ModelVersion], list[ModelVersion]]:
    """``versions`` created before ``since`` (or at an unknown time), and the others."""
    old: list[ModelVersion] = []
    new: list[ModelVersion] = []
    for version in versions:
        created = version.created_at
        (new if created is not None and aware(created) >= since else old).append(version)
    return old, new


def _not_polled_yet(registries: list[ModelRegistry]) -> dict[str, str | None]:
    return {_label(registry): "first poll pending" for registry in registries}


def _label(registry: ModelRegistry) -> str:
    return f"{registry.source_kind} {registry.source_name}"
