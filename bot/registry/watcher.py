"""The poll loop: the fallback that never misses a version, whatever happened to Event Grid.

Per workspace or registry, one cycle lists the models (one request per page) and lists versions
only for models whose latest version moved past the stored watermark. On a source's first poll
every existing version is recorded as known, without announcing it (the baseline). Versions are
recorded like pushed ones (one per source, name and version), so a version that Event Grid already
delivered is not announced twice; watermarks are stored, so versions registered while the bot was
down are announced after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from bot.outbox import OutboxSender, backoff
from bot.registry.azureml import Container, ModelRegistry, failure_reason
from bot.store.repository import Store

log = logging.getLogger(__name__)

JITTER = 0.1
MAX_ERROR_DELAY = 600.0


class RegistryWatcher:
    """Polls every configured registry, with jitter, backing off when one fails."""

    def __init__(
        self, store: Store, registries: list[ModelRegistry], sender: OutboxSender, interval: float
    ) -> None:
        self._store = store
        self._registries = registries
        self._sender = sender
        self._interval = interval
        self._failures: dict[str, int] = {}
        self._status: dict[str, str | None] = {_label(r): "first poll pending" for r in registries}

    def health(self) -> dict[str, Any]:
        """The readiness entry: ok, or what is wrong with which source."""
        problems = [f"{label}: {reason}" for label, reason in self._status.items() if reason]
        if not self._registries:
            return {"ok": False, "reason": "no Azure ML workspace or registry is configured"}
        if problems:
            return {"ok": False, "reason": "; ".join(problems)}
        return {"ok": True, "detail": f"{len(self._registries)} source(s) polled"}

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            delays = [await self._poll_safely(registry) for registry in self._registries]
            await asyncio.sleep(min(delays, default=self._interval))

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
        marks = await self._store.watermarks(kind, name)
        containers = await registry.containers()
        if marks is None:
            await self._baseline(registry, containers)
            return 0
        recorded = 0
        for container in containers:
            latest = container.latest_version
            if latest is None or marks.get(container.name) == latest:
                continue
            for version in await registry.versions(container.name):
                result = await self._store.record_version(version, "poll", self._sender.lease)
                recorded += result.new
                self._sender.dispatch(result.claimed)
            await self._store.set_watermark(kind, name, container.name, latest)
        if recorded:
            log.info("polling %s found %d new version(s)", _label(registry), recorded)
        return recorded

    async def _baseline(self, registry: ModelRegistry, containers: list[Container]) -> None:
        kind, name = registry.source_kind, registry.source_name
        for container in containers:
            await self._store.remember_versions(await registry.versions(container.name), "poll")
            if container.latest_version is not None:
                await self._store.set_watermark(
                    kind, name, container.name, container.latest_version
                )
        await self._store.mark_baselined(kind, name)
        log.info(
            "%s: %d model(s) known; new versions from now on are announced",
            _label(registry),
            len(containers),
        )


def _label(registry: ModelRegistry) -> str:
    return f"{registry.source_kind} {registry.source_name}"
