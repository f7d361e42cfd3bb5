"""The Store: one async SQLAlchemy engine on SQLite (embedded default) or PostgreSQL.

This module and ``migrate.py`` are the only places that know which database is
underneath. SQLite runs in WAL mode behind a single connection, so every
transaction is serialised (the single-writer path); PostgreSQL gets a pool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from corral.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")


def normalize_url(url: str | None, *, data_dir: Path | None = None) -> str:
    """An async SQLAlchemy URL for what a user typed (or the embedded default)."""
    if not url:
        if data_dir is None:
            raise StoreError("no database URL and no data directory")
        return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'corral.db'}"
    for prefix in ("postgresql+asyncpg://", "sqlite+aiosqlite://"):
        if url.startswith(prefix):
            return url
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://"):]
    raise StoreError(f"unsupported database URL {url!r}: use postgresql://… or sqlite:///…")


def now_millis() -> int:
    return int(time.time() * 1000)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Store:
    """The database: ``async with store.tx() as conn`` for work in one transaction."""

    def __init__(self, url: str, *, pool_size: int = 20, schema: str | None = None) -> None:
        """``schema``: on PostgreSQL, the schema (search_path) to keep corral's tables in."""
        url = normalize_url(url)
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            sa_event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            connect_args = {"server_settings": {"search_path": schema}} if schema else {}
            engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                         connect_args=connect_args)
        self.engine: AsyncEngine = engine
        self._group: Any = None  # the GroupWriter, made on first use

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def migrate(self) -> None:
        from corral.store.migrate import upgrade

        await upgrade(self)

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self.engine.begin() as conn:
            yield conn

    async def group(self, op: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``op`` (an async function of a connection) in a transaction shared with the
        ops that arrive meanwhile (group commit, ``store/group.py``); returns its result
        once that transaction is committed."""
        if self._group is None:
            from corral.store.group import GroupWriter

            self._group = GroupWriter(self)
        return await self._group.run(op)

    async def fetch_all(self, stmt: Any) -> list[sa.Row]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt)).fetchall())

    async def fetch_one(self, stmt: Any) -> sa.Row | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).first()

    async def close(self) -> None:
        if self._group is not None:
            await self._group.close()
        await self.engine.dispose()
