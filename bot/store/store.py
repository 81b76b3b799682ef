"""The store: one object that hands each part of the bot the tables it works on."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.conversations import Conversations
from bot.store.outbox import Outbox
from bot.store.reads import Reads
from bot.store.releases import ModelReleases
from bot.store.requests import ReleaseRequests
from bot.store.sources import Sources
from bot.store.subscriptions import Subscriptions
from bot.store.versions import Versions
from dialogs.policy import PolicyDefaults


class Store:
    """Persistent state, by aggregate: every method of its parts is one transaction."""

    def __init__(self, engine: AsyncEngine, defaults: PolicyDefaults | None = None) -> None:
        self.engine = engine
        self.defaults = defaults or PolicyDefaults()
        """The approval policy and target of subscriptions that do not set their own."""
        self.reads = Reads(engine)
        """Read-only queries of a chat turn's path, in one thread hop."""
        self.conversations = Conversations(engine)
        self.subscriptions = Subscriptions(engine, self.reads)
        self.versions = Versions(engine, self.defaults)
        self.outbox = Outbox(engine)
        self.sources = Sources(engine)
        self.releases = ModelReleases(engine)
        self.requests = ReleaseRequests(engine, self.defaults)

    def close(self) -> None:
        """Stop the threads of :attr:`reads` (the engine is its owner's to dispose of)."""
        self.reads.close()

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
