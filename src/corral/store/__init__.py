"""Storage: SQLAlchemy Core tables, Alembic migrations, SQLite (default) and PostgreSQL."""

from corral.store.db import Store, normalize_url

__all__ = ["Store", "normalize_url"]
