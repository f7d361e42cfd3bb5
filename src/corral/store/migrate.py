"""Alembic migrations, applied automatically when the server starts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from corral.store.db import Store

MIGRATIONS = Path(__file__).parent / "migrations"

# Arbitrary, fixed: two servers starting at once on one PostgreSQL migrate one after the other.
_PG_LOCK_KEY = 0x636F7272616C


def alembic_config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(sync_conn: Any) -> None:
    command.upgrade(alembic_config(sync_conn), "head")


async def upgrade(store: Store) -> None:
    async with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})"))
        await conn.run_sync(_upgrade)
