"""The poller's memory of each workspace and registry: since when it is watched, whether its
existing versions are recorded (baselined), and the latest version listed per model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.clock import utcnow
from bot.store.engine import dialect_insert
from bot.store.tables import registry_sources, registry_watermarks


class Sources:
    """The registry_sources and registry_watermarks tables; every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = dialect_insert(engine)

    async def watermarks(self, source_kind: str, source_name: str) -> dict[str, str] | None:
        """The latest version seen per model of a source; None until the source is baselined."""
        async with self.engine.connect() as connection:
            baselined = await connection.scalar(
                select(registry_sources.c.baselined_at).where(_source(source_kind, source_name))
            )
            if baselined is None:
                return None
            rows = await connection.execute(
                select(
                    registry_watermarks.c.model_name, registry_watermarks.c.latest_version
                ).where(
                    registry_watermarks.c.source_kind == source_kind,
                    registry_watermarks.c.source_name == source_name,
                )
            )
            return dict(rows.all())

    async def set_watermark(
        self, source_kind: str, source_name: str, model_name: str, latest_version: str
    ) -> None:
        """Remember that a model's versions were listed up to ``latest_version``."""
        statement = self._insert(registry_watermarks).values(
            source_kind=source_kind,
            source_name=source_name,
            model_name=model_name,
            latest_version=latest_version,
            updated_at=utcnow(),
        )
        async with self.engine.begin() as connection:
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["source_kind", "source_name", "model_name"],
                    set_={
                        "latest_version": statement.excluded.latest_version,
                        "updated_at": statement.excluded.updated_at,
                    },
                )
            )

    async def start_watching(self, source_kind: str, source_name: str) -> datetime:
        """Since when the bot watches a source: the time of the first call for it, by any replica
        (this one, if it is the first). Timezone-naive on SQLite, like every stored time."""
        async with self.engine.begin() as connection:
            await connection.execute(
                self._insert(registry_sources)
                .values(source_kind=source_kind, source_name=source_name, watched_since=utcnow())
                .on_conflict_do_nothing()
            )
            watched = await connection.execute(
                select(registry_sources.c.watched_since).where(_source(source_kind, source_name))
            )
            since: datetime = watched.scalar_one()
            return since

    async def mark_baselined(self, source_kind: str, source_name: str) -> None:
        """The source's existing versions are all recorded: from now on, new ones are announced.
        The source is watched already (:meth:`start_watching`)."""
        async with self.engine.begin() as connection:
            await connection.execute(
                update(registry_sources)
                .where(_source(source_kind, source_name), registry_sources.c.baselined_at.is_(None))
                .values(baselined_at=utcnow())
            )


def _source(source_kind: str, source_name: str) -> ColumnElement[bool]:
    """The condition that picks one source's row of ``registry_sources``."""
    return and_(
        registry_sources.c.source_kind == source_kind,
        registry_sources.c.source_name == source_name,
    )
