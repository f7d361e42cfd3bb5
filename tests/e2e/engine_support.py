"""Helpers for the engine's end-to-end tests: ``corral server`` as a real subprocess.

* :func:`fresh_database` yields the ``--db`` URL of an empty database (``None`` on SQLite:
  the server's default file in its data dir) and drops a PostgreSQL database afterwards,
  even on failure.
* :class:`ServerProcess` starts ``corral server`` on a fixed loopback port with a known admin
  key, can ``kill -9`` it and start it again on the same port, data dir and database, and
  always kills what it started.
* :func:`eventually` polls a condition with a deadline scaled by ``TIMEOUT_FACTOR``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import PG_URL, TIMEOUT_FACTOR, eventually

LOOPBACK = "127.0.0.1"





def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str | None]:
    """``None`` for SQLite (the data dir's file), else a new PostgreSQL database's URL."""
    if backend == "sqlite":
        yield None
        return
    import asyncpg

    name = f"corral_t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


class ServerProcess:
    """``corral server`` in a subprocess; its output goes to ``<workdir>/server-<n>.log``."""

    def __init__(self, workdir: Path, db_url: str | None, port: int | None = None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.auth = ("CRASH" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = workdir / "server-0.log"

    @property
    def store_url(self) -> str:
        """The database as ``corral.store.Store`` opens it from the test process."""
        return self.db_url or f"sqlite:///{self.data_dir / 'corral.db'}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def client(self, timeout: float = 15.0, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, auth=self.auth,
                                 timeout=timeout * TIMEOUT_FACTOR, **kw)

    async def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it answers ``GET /v1`` with the admin key."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.log_path = self.workdir / f"server-{self.starts}.log"
        cmd = [sys.executable, "-m", "corral.cli", "--log-level", "WARNING", "server",
               "--host", LOOPBACK, "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.db_url:
            cmd += ["--db", self.db_url]
        env = {k: v for k, v in os.environ.items() if k != "CORRAL_DB_URL"}
        env.update(CORRAL_ADMIN_ACCESS_KEY=self.auth[0], CORRAL_ADMIN_SECRET_KEY=self.auth[1])
        with open(self.log_path, "wb") as out:  # noqa: ASYNC230 - a local file, once
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,  # noqa: ASYNC220
                                         stdin=subprocess.DEVNULL, env=env)
        async with self.client(timeout=2) as c:
            async def ready() -> bool:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"corral server exited {self.proc.returncode}:\n"
                                         + self.log_tail())
                try:
                    return (await c.get("/v1")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, "the server answering GET /v1", timeout=timeout)

    def kill9(self) -> None:
        """``kill -9``: no shutdown, no cleanup — the crash the engine must survive."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Terminate (then kill) whatever is still running; safe to call at any time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


async def set_settings(api: httpx.AsyncClient, values: dict[str, str]) -> None:
    for name, value in values.items():
        r = await api.put(f"/v1/settings/{name}", json={"value": value})
        assert r.status_code == 200, r.text
