"""Shared fixtures: the store on SQLite and PostgreSQL, and a real server on a free port.

PostgreSQL tests use ``CORRAL_TEST_PG_URL`` (default ``postgresql://root@127.0.0.1/test``);
each test gets a schema of its own, dropped afterwards. Without a reachable server they
are skipped with the reason printed (``-ra``); CI always has one.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.store import Store

PG_URL = os.environ.get("CORRAL_TEST_PG_URL", "postgresql://root@127.0.0.1/test")
# One factor scales every wait in the tests (slow machines: CORRAL_TEST_TIMEOUT_FACTOR=3).
TIMEOUT_FACTOR = float(os.environ.get("CORRAL_TEST_TIMEOUT_FACTOR", "1"))

_pg_state: dict[str, Any] = {}


async def eventually(check: Callable[[], Any | Awaitable[Any]], what: str = "condition",
                     timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy and return that;
    fail after ``timeout`` seconds (scaled by TIMEOUT_FACTOR) saying ``what`` was awaited.

    For state with no event to await (a row, a file, another process); where an event
    exists, await the event instead.
    """
    deadline = time.monotonic() + timeout * TIMEOUT_FACTOR
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout * TIMEOUT_FACTOR:.1f} s "
                                 f"(last: {value!r})")
        await asyncio.sleep(interval)


def _pg_unavailable_reason() -> str | None:
    if "reason" not in _pg_state:
        import asyncpg

        async def probe() -> None:
            conn = await asyncpg.connect(PG_URL, timeout=3)
            await conn.close()

        try:
            asyncio.run(probe())
            _pg_state["reason"] = None
        except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_URL}: {e}"
    return _pg_state["reason"]


def pytest_sessionstart(session: pytest.Session) -> None:
    reason = _pg_unavailable_reason()
    if reason:
        print(f"\n*** {reason}; PostgreSQL tests will be SKIPPED ***")


async def _pg_schema() -> str:
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
    finally:
        await conn.close()
    return name


async def _drop_pg_schema(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database a test runs on; every store test runs on both."""
    if request.param == "postgresql":
        reason = _pg_unavailable_reason()
        if reason:
            pytest.skip(reason)
    return str(request.param)


@pytest.fixture
async def db_target(backend: str, tmp_path: Path) -> AsyncIterator[tuple[str, str | None]]:
    """(database URL, PostgreSQL schema or None) for a fresh, empty database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'corral.db'}", None
        return
    schema = await _pg_schema()
    try:
        yield PG_URL, schema
    finally:
        await _drop_pg_schema(schema)


@pytest.fixture
async def store(db_target: tuple[str, str | None]) -> AsyncIterator[Store]:
    url, schema = db_target
    s = Store(url, schema=schema)
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()


class RunningServer:
    """A corral server started in this test's event loop, with helpers to call it."""

    def __init__(self, server: Any) -> None:
        self.server = server
        key = server.admin_key
        self.admin_auth = (key.access_key, key.secret_key)

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def services(self) -> Any:
        return self.server.services

    def client(self, auth: tuple[str, str] | None = None, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, auth=auth or self.admin_auth,
                                 timeout=10 * TIMEOUT_FACTOR, **kw)


@pytest.fixture
async def server(db_target: tuple[str, str | None], tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningServer]:
    from corral.server.app import CorralServer, ServerConfig

    monkeypatch.delenv("CORRAL_ADMIN_ACCESS_KEY", raising=False)
    monkeypatch.delenv("CORRAL_ADMIN_SECRET_KEY", raising=False)
    url, schema = db_target
    srv = CorralServer(ServerConfig(port=0, data_dir=tmp_path / "data", db_url=url,
                                    db_schema=schema))
    await srv.start()
    try:
        yield RunningServer(srv)
    finally:
        await srv.stop()


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client authenticated with the admin key."""
    async with server.client() as c:
        yield c
