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
    sqlite_autoincrement=True,  # a seq is never handed out twice, even after a purge
)


def _scoped(name: str, *extra: sa.Column | sa.Index) -> sa.Table:
    """A resource table of a project: common columns plus ``account_id`` (the project)."""
    return sa.Table(
        name,
        metadata,
        *common_columns(),
        sa.Column("account_id", sa.BigInteger, sa.ForeignKey("account.id"), nullable=False),
        *extra,
        sa.Index(f"ix_{name}_account", "account_id"),
    )


agent = _scoped(
    "agent",
    sa.Column("uri", sa.String(255)),
    # the agent's own account, whose agentApiKey the agent authenticates with
    sa.Column("agent_account_id", sa.BigInteger, sa.ForeignKey("account.id")),
)
host = _scoped(
    "host",
    sa.Column("agent_id", sa.BigInteger, sa.ForeignKey("agent.id")),
    sa.Index("ix_host_agent", "agent_id"),
)
instance = _scoped(
    "instance",
    sa.Column("host_id", sa.BigInteger, sa.ForeignKey("host.id")),
    sa.Column("external_id", sa.String(255)),
    sa.Index("ix_instance_host", "host_id"),
)
volume = _scoped(
    "volume",
    sa.Column("host_id", sa.BigInteger, sa.ForeignKey("host.id")),
)
stack = _scoped("stack")
service = _scoped(
    "service",
    sa.Column("stack_id", sa.BigInteger, sa.ForeignKey("stack.id")),
)
container_event = _scoped(
    "container_event",
    sa.Column("host_id", sa.BigInteger, sa.ForeignKey("host.id")),
    sa.Column("external_id", sa.String(255)),
    sa.Column("external_status", sa.String(64)),
    sa.Index("ix_container_event_created", "created"),
)
service_event = _scoped(
    "service_event",
    sa.Column("host_id", sa.BigInteger, sa.ForeignKey("host.id")),
    sa.Column("service_id", sa.BigInteger, sa.ForeignKey("service.id")),
    sa.Index("ix_service_event_created", "created"),
)

# The process pool (§5). Times in epoch milliseconds.
process_instance = sa.Table(
    "process_instance",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("start_time", sa.BigInteger, nullable=False),
    sa.Column("end_time", sa.BigInteger),
    sa.Column("process_name", sa.String(128), nullable=False),
    sa.Column("resource_type", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.BigInteger, nullable=False),
    sa.Column("phase", sa.String(32), nullable=False),
    sa.Column("exit_reason", sa.String(64)),
    sa.Column("result", sa.String(32)),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("data", JsonType),
    sa.Column("run_after", sa.BigInteger, nullable=False),
    sa.Column("execution_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("running_process_server_id", sa.String(128)),
    sa.Column("running_at", sa.BigInteger),  # refreshed while running; stale = server gone
    sa.Column("start_process_server_id", sa.String(128)),
    sa.Column("account_id", sa.BigInteger),
    sa.Index("ix_process_instance_ready", "end_time", "run_after"),
    sa.Index("ix_process_instance_resource", "resource_type", "resource_id", "end_time"),
    sa.Index("ix_process_instance_account", "account_id"),
)
process_execution = sa.Table(
    "process_execution",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("process_instance_id", sa.BigInteger,
              sa.ForeignKey("process_instance.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created", sa.BigInteger, nullable=False),
    sa.Column("log", JsonType, nullable=False),
    sa.Index("ix_process_execution_instance", "process_instance_id"),
)
