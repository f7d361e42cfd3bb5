"""The database tables, as SQLAlchemy Core.

Every resource table shares the *common columns* (id, uuid, kind, name, state,
account, timestamps, transitioning fields, a JSON ``data`` bag). Times are stored as
epoch milliseconds (BigInteger): they sort, compare and serialise the same on SQLite
and PostgreSQL. States are plain strings.

The migrations in ``migrations/versions`` are frozen copies of what this module
described when they were written; change both together.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")


def common_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("uuid", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("description", sa.String(1024)),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("removed", sa.BigInteger),
        sa.Column("transitioning", sa.String(16), nullable=False, server_default="no"),
        sa.Column("transitioning_message", sa.String(1024)),
        sa.Column("transitioning_progress", sa.Integer),
        sa.Column("data", JsonType),
    ]


account = sa.Table(
    "account",
    metadata,
    *common_columns(),
    sa.Column("external_id", sa.String(255)),
)

credential = sa.Table(
    "credential",
    metadata,
    *common_columns(),
    sa.Column("account_id", sa.BigInteger, sa.ForeignKey("account.id"), nullable=False),
    sa.Column("public_value", sa.String(255), unique=True),
    sa.Column("secret_value", sa.String(1024)),
    sa.Index("ix_credential_account", "account_id"),
)

setting = sa.Table(
    "setting",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("value", sa.Text, nullable=False),
)

# The resumable stream (§7): every persisted event gets a monotonically increasing seq.
event = sa.Table(
    "event",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created", sa.BigInteger, nullable=False),
    sa.Column("body", JsonType, nullable=False),
    sa.Index("ix_event_created", "created"),
)
