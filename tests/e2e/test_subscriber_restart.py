"""The example subscriber (examples/scale_subscriber) as a real process against a real
``corral server`` process that is stopped in the middle of a burst of 1,000 changes and
started again on the same port and database.

The subscriber must end with every change the server logged, each exactly once (its seqs
equal the ``resource.change`` seqs of the event table, which covers the 1,000 projects),
and its healthcheck must say 503 while the server is down and 200 after. With SIGTERM the
server publishes every committed change before it exits, so all 1,000 projects are there;
with ``kill -9`` a change committed in the instant before the kill may never be published
(the notification is sent after the commit), and the subscriber must still have exactly
what was logged. Last, the subscriber itself is restarted mid-burst and resumes from its
state file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import TIMEOUT_FACTOR
from tests.e2e.engine_support import ServerProcess, eventually, free_port, fresh_database

from corral.store import Store, tables

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scale_subscriber" / "main.py"
COUNT = 1000
STOP_AT = 400  # projects created before the server goes down


class SubscriberProcess:
    """``python examples/scale_subscriber/main.py`` with the CATTLE_* variables."""

    def __init__(self, workdir: Path, url: str, auth: tuple[str, str], *,
                 state_file: Path | None = None) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("CATTLE_", "CORRAL_"))}
        self.health_port = free_port()
        self.env.update(CATTLE_URL=f"{url}/v1", CATTLE_ACCESS_KEY=auth[0],
                        CATTLE_SECRET_KEY=auth[1], HEALTHCHECK_PORT=str(self.health_port),
                        HEALTHCHECK_HOST="127.0.0.1", LOG_LEVEL="INFO")
        if state_file is not None:
            self.env["SUBSCRIBER_STATE_FILE"] = str(state_file)
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        with open(self.workdir / f"sub-{self.runs}.out", "wb") as out, \
                open(self.workdir / f"sub-{self.runs}.err", "wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(EXAMPLE)], stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=self.env)

    def lines(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for run in range(1, self.runs + 1):
            path = self.workdir / f"sub-{run}.out"
            text = path.read_text() if path.exists() else ""
            # a line being written may be partial: only whole lines count
            out.extend(json.loads(line) for line in text.splitlines(keepends=True)
                       if line.endswith("\n"))
        return out

    def stderr(self) -> str:
        return "\n".join((self.workdir / f"sub-{r}.err").read_text(errors="replace")[-3000:]
                         for r in range(1, self.runs + 1))

    async def health(self) -> int:
        try:
            async with aiohttp.ClientSession() as s, s.get(
                    f"http://127.0.0.1:{self.health_port}/healthcheck",
                    timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return 0

    async def wait_health(self, status: int, timeout: float = 20.0) -> None:
        async def check() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.stderr()
            return await self.health() == status
        await eventually(check, f"subscriber healthcheck {status}", timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(15 * TIMEOUT_FACTOR)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


class Burst:
    """Creates ``count`` projects, 8 at a time. A create that fails while the server is
    down is looked up by its unique name once the server is back, and posted again only
    if it did not land."""

    def __init__(self, api: httpx.AsyncClient, count: int) -> None:
        self.api = api
        self.names = [f"burst-{i:04d}" for i in range(count)]
        self.created = 0
        self.server_back = asyncio.Event()
        self.failed = 0

    async def run(self) -> list[str]:
        sem = asyncio.Semaphore(8)

        async def one(name: str) -> str:
            async with sem:
                project_id = await self.create(name)
                self.created += 1
                return project_id

        return list(await asyncio.gather(*(one(n) for n in self.names)))

    async def create(self, name: str) -> str:
        while True:
            try:
                r = await self.api.post("/v1/projects", json={"name": name})
                if r.status_code == 201:
                    return str(r.json()["id"])
                assert r.status_code >= 500, r.text
            except httpx.TransportError:
                pass
            self.failed += 1
            await self.server_back.wait()
            found = (await self.api.get("/v1/projects", params={"name": name})).json()["data"]
            if found:
                assert len(found) == 1, found
                return str(found[0]["id"])


async def logged_changes(server: ServerProcess) -> list[tuple[int, str | None]]:
    """(seq, resourceId) of every admin-view ``resource.change`` in the event table."""
    store = Store(server.store_url)
    try:
        e = tables.event
        rows = await store.fetch_all(sa.select(e).where(e.c.name == "resource.change")
                                     .order_by(e.c.seq))
    finally:
        await store.close()
    return [(int(r.seq), (r.body or {}).get("resourceId")) for r in rows]


async def settled(server: ServerProcess, sub: SubscriberProcess) -> list[tuple[int, str | None]]:
    """The event log once it is quiet (coalesced changes go out up to 1 s late) and the
    subscriber has printed up to its last seq."""
    last: list[list[tuple[int, str | None]]] = [[]]
    quiet_since = [0.0]

    async def check() -> list[tuple[int, str | None]] | None:
        logged = await logged_changes(server)
        now = asyncio.get_running_loop().time()
        if logged != last[0]:
            last[0], quiet_since[0] = logged, now
            return None
        seqs = [line["seq"] for line in sub.lines()]
        caught_up = bool(logged) and bool(seqs) and seqs[-1] >= logged[-1][0]
        return logged if caught_up and now - quiet_since[0] >= 1.5 else None

    return await eventually(check, "the log quiet and the subscriber caught up", 60,
                            interval=0.25)


@pytest.mark.parametrize(("backend", "how"), [
    ("sqlite", "sigterm"), ("sqlite", "kill9"),
    pytest.param("postgresql", "sigterm", marks=pytest.mark.pg)], indirect=["backend"])
async def test_a_server_restart_mid_burst_loses_nothing_and_duplicates_nothing(
        backend: str, tmp_path: Path, how: str) -> None:
    async with fresh_database(backend) as db_url:
        server = ServerProcess(tmp_path, db_url)
        sub = SubscriberProcess(tmp_path, server.url, server.auth)
        try:
            await server.start()
            sub.start()
            await sub.wait_health(200)
            async with server.client() as api:
                burst = Burst(api, COUNT)
                creating = asyncio.create_task(burst.run())
                await eventually(lambda: _async(burst.created >= STOP_AT or creating.done()),
                                 f"{STOP_AT} projects created", timeout=60)
                assert not creating.done(), "the burst ended before the restart"
                if how == "kill9":
                    server.kill9()
                else:
                    server.stop()
                await sub.wait_health(503)  # the server is down: so is the subscriber
                down_at = burst.created
                await server.start()
                burst.server_back.set()
                await sub.wait_health(200)
                ids = await asyncio.wait_for(creating, 120 * TIMEOUT_FACTOR)
            assert len(set(ids)) == COUNT and down_at < COUNT
            logged = await settled(server, sub)
            expected = [seq for seq, _ in logged]
            assert sub.stop() == 0, sub.stderr()  # SIGTERM: a clean exit
            assert sub.stderr().count("subscribed to resource.change") >= 2
            print(f"{how}: down at {down_at}, {burst.failed} creates failed with it, "
                  f"{len(logged)} changes logged")
        except BaseException:
            print(f"--- server log:\n{server.log_tail()}\n--- subscriber:\n{sub.stderr()}")
            raise
        finally:
            sub.stop(signal.SIGKILL)
            server.stop()

    lines = sub.lines()
    seqs = [line["seq"] for line in lines]
    twice = [s for s, n in Counter(seqs).items() if n > 1]
    assert not twice, f"delivered twice: {twice[:10]}"
    first = next(i for i, (seq, _) in enumerate(logged) if seq == seqs[0])
    assert seqs == expected[first:], (  # from its first event on, every logged one, in order
        f"missing {sorted(set(expected[first:]) - set(seqs))[:10]}")
    got = {line["resourceId"] for line in lines if line["resourceType"] == "project"}
    logged_ids = {rid for _, rid in logged[first:]}
    assert got == logged_ids - {None}
    missing = set(ids) - got
    print(f"{len(missing)} projects without a change; {len(seqs)} events printed")
    if how == "sigterm":
        assert not missing, f"{len(missing)} projects never reached the subscriber"
    else:  # only creates committed just before the kill lost their notification (never
        # logged, so nobody could get them: ``got == logged_ids`` above is the real check)
        assert len(missing) < 50, f"{len(missing)} projects never reached the subscriber"
    for line in lines:
        if line["resourceType"] == "project":
            assert line["data"]["resource"]["id"] == line["resourceId"]
    assert sub.runs == 1


async def _async(value: Any) -> Any:
    return value


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_restarted_subscriber_resumes_from_its_state_file_mid_burst(
        backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend) as db_url:
        server = ServerProcess(tmp_path, db_url)
        sub = SubscriberProcess(tmp_path, server.url, server.auth,
                                state_file=tmp_path / "state" / "position.json")
        try:
            await server.start()
            sub.start()
            await sub.wait_health(200)
            async with server.client() as api:
                burst = Burst(api, COUNT)
                creating = asyncio.create_task(burst.run())
                await eventually(lambda: _async(burst.created >= STOP_AT or creating.done()),
                                 f"{STOP_AT} projects created", timeout=60)
                assert not creating.done(), "the burst ended before the restart"
                assert sub.stop() == 0, sub.stderr()  # graceful: finishes what it read
                sub.start()  # the same state file
                await sub.wait_health(200)
                ids = await asyncio.wait_for(creating, 120 * TIMEOUT_FACTOR)
            logged = await settled(server, sub)
            assert sub.stop() == 0, sub.stderr()
        except BaseException:
            print(f"--- server log:\n{server.log_tail()}\n--- subscriber:\n{sub.stderr()}")
            raise
        finally:
            sub.stop(signal.SIGKILL)
            server.stop()

    seqs = [line["seq"] for line in sub.lines()]
    assert sub.runs == 2 and len(seqs) == len(set(seqs)), "no event printed twice"
    expected = [seq for seq, _ in logged]
    assert seqs == expected[expected.index(seqs[0]):]
    got = {line["resourceId"] for line in sub.lines() if line["resourceType"] == "project"}
    assert set(ids) <= got
