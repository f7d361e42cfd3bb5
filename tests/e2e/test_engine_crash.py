"""``kill -9`` of the server in the middle of 200 instance starts, then a restart.

A real ``corral server`` subprocess, on SQLite and on PostgreSQL, with one agent that
behaves like a real idempotent agent: it *applies* a start at most once per instance and
answers a repeated ``compute.instance.activate`` for an instance it already started with
success and the same facts. The server is killed the moment the agent has received its
40th activate, so work is in flight everywhere: that activate's reply can never reach the
server that sent it, other starts and creates are queued, and creates are still being
posted. The client behaves like a careful user: a create whose request failed with the
crash is looked up by its (unique) name once the server is back, and posted again only if
it did not land. After the restart on the same port and database every instance must end
``running``, each started exactly once on the agent, with the facts of that one start,
and no ``instance.start`` process left unfinished.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import TIMEOUT_FACTOR
from tests.e2e.engine_support import ServerProcess, eventually, fresh_database, set_settings
from tests.scripted_agent import Reply, ScriptedAgent

from corral.resources.agents import register_agent
from corral.store import Store

pytestmark = pytest.mark.e2e

INSTANCES = 200
KILL_AFTER = 40  # activates received before the kill
ACTIVATE = "compute.instance.activate"
SETTINGS = {
    "process.replay.interval.seconds": "1",
    "process.running_delay.millis": "1500",
    # replies take 20-50 ms; a timeout would send an activate again and blur the counts
    "eventing.timeout.millis": str(int(3000 * TIMEOUT_FACTOR)),
    "process.retry_max_wait.millis": "500",
}


class IdempotentAgent:
    """The agent's side: what it was asked, what it applied, and when to pull the plug."""

    def __init__(self, kill: Any) -> None:
        self.kill = kill
        self.agent: ScriptedAgent | None = None  # to tell which server sent an event
        self.receipts: Counter[str] = Counter()  # instance id -> activates received
        # activates that came over the agent's second subscription: sent by the restarted
        # server (events the first server sent before it died may still be read after
        # the kill, from the old socket's buffer; they count as the first server's)
        self.from_restarted: Counter[str] = Counter()
        self.applied: dict[str, str] = {}  # instance id -> the externalId of its one start
        self.applications: Counter[str] = Counter()
        self.killed_on: str | None = None  # the activate whose reply the crash swallowed
        self.received_at_kill = 0
        self.started_at_kill = 0

    def policy(self, event: dict[str, Any]) -> Reply | None:
        if event["name"] != ACTIVATE:
            return Reply(data={})
        iid = event["resourceId"]
        self.receipts[iid] += 1
        if self.agent is not None and self.agent.connects > 1:
            self.from_restarted[iid] += 1
        if iid not in self.applied:  # start it (once); a repeat only reports what is there
            self.applications[iid] += 1
            self.applied[iid] = f"ctr-{len(self.applied) + 1:04d}"
        facts = {"instance": {"externalId": self.applied[iid]}}
        if self.killed_on is None and self.receipts.total() >= KILL_AFTER:
            # Pull the plug now: this activate was received and applied, its reply never
            # reaches the server that sent it.
            self.killed_on = iid
            self.received_at_kill = self.receipts.total()
            self.started_at_kill = len(self.applied)
            self.kill()
        return Reply(delay=random.uniform(0.02, 0.05), data=facts)


class Creator:
    """Posts the creates; one that fails with the crash is checked by name, then retried."""

    def __init__(self, api: httpx.AsyncClient, count: int) -> None:
        self.api = api
        self.names = [f"crash-{i:03d}" for i in range(count)]
        self.server_back = asyncio.Event()
        self.failed_with_the_crash = 0
        self.landed_despite_the_error = 0

    async def run(self) -> list[str]:
        sem = asyncio.Semaphore(8)

        async def one(name: str) -> str:
            async with sem:
                return await self.create(name)

        return list(await asyncio.gather(*(one(n) for n in self.names)))

    async def create(self, name: str) -> str:
        body = {"name": name, "command": ["sleep", "3600"]}
        while True:
            try:
                r = await self.api.post("/v1/instances", json=body)
            except httpx.TransportError:
                self.failed_with_the_crash += 1
                await self.server_back.wait()
                found = (await self.api.get("/v1/instances", params={"name": name})).json()
                if found["data"]:
                    self.landed_despite_the_error += 1
                    assert len(found["data"]) == 1, found["data"]
                    return str(found["data"][0]["id"])
                continue
            assert r.status_code == 201, r.text
            return str(r.json()["id"])


async def running(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await api.get("/v1/instances", params={"state": "running", "limit": "1000"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def crash_and_restart(server: ServerProcess) -> None:
    await server.start()
    async with server.client() as api:
        await set_settings(api, SETTINGS)
        project = (await api.get("/v1/projects")).json()["data"][0]
        store = Store(server.store_url)
        try:
            async with store.tx() as conn:
                reg = await register_agent(conn, project_id=int(project["id"][2:]),
                                           hostname="crash-host")
        finally:
            await store.close()

        async def host_active() -> bool:
            body = (await api.get(f"/v1/hosts/1h{reg.host_id}")).json()
            return body.get("state") == "active" and body.get("transitioning") == "no"

        # The pool looks again within process.replay.interval.seconds as set just now
        # (1 s), not after the 15 s interval it was sleeping when the setting changed.
        await eventually(host_active, "the registered host active", timeout=5)

        side = IdempotentAgent(kill=server.kill9)
        agent = ScriptedAgent(server.url, reg.access_key, reg.secret_key, reg.agent_id,
                              side.policy, reconnect=True)
        side.agent = agent
        async with agent:
            creator = Creator(api, INSTANCES)
            creating = asyncio.get_running_loop().create_task(creator.run())
            try:
                await eventually(lambda: _async(side.killed_on is not None),
                                 f"{KILL_AFTER} activates received and the server killed",
                                 timeout=30)
                assert server.proc is not None and server.proc.returncode == -9
                assert side.started_at_kill < INSTANCES, "the crash should interrupt the work"

                restarted = time.monotonic()
                await server.start()
                creator.server_back.set()
                await agent.wait_connected(2, timeout=15 * TIMEOUT_FACTOR)
                ids = await asyncio.wait_for(creating, 30 * TIMEOUT_FACTOR)
            finally:
                if not creating.done():
                    creating.cancel()
                await asyncio.gather(creating, return_exceptions=True)
            assert len(set(ids)) == INSTANCES

            async def all_running() -> list[dict[str, Any]] | None:
                data = await running(api)
                ok = len(data) == INSTANCES and all(i["transitioning"] == "no" for i in data)
                return data if ok else None

            done = await eventually(all_running, f"{INSTANCES} instances running", timeout=40)
            recovery = time.monotonic() - restarted

        # -- what a user checks
        everything = (await api.get("/v1/instances", params={"limit": "1000"})).json()["data"]
        assert sorted(i["id"] for i in everything) == sorted(ids)
        assert sorted(i["name"] for i in everything) == creator.names
        assert {i["state"] for i in everything} == {"running"}
        assert [i["id"] for i in everything if i["transitioning"] != "no"] == []
        assert {i["id"] for i in done} == set(ids)

        # the agent saw every start, applied each exactly once, and its facts stuck
        assert set(side.receipts) == set(ids)
        assert set(side.applications) == set(ids)
        assert set(side.applications.values()) == {1}
        assert {i["id"]: i["externalId"] for i in everything} == side.applied

        # the activate the crash interrupted was sent again by the restarted server
        interrupted = side.killed_on
        assert interrupted is not None and side.from_restarted[interrupted] == 1
        # the restarted server sent each start once: no duplicate of its own work
        assert {i: n for i, n in side.from_restarted.items() if n > 1} == {}
        repeated = {iid for iid, n in side.receipts.items() if n > 1}

        # nothing left unfinished; the interrupted start took a second attempt
        r = await api.get("/v1/processinstances", params={
            "endTime_null": "", "processName": "instance.start", "limit": "1000"})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == []
        r = await api.get("/v1/processinstances", params={
            "processName": "instance.start", "limit": "1000"})
        starts = {p["resourceId"]: p for p in r.json()["data"]}
        assert set(starts) == set(ids)
        assert {p["result"] for p in starts.values()} == {"SUCCESS"}
        assert starts[interrupted]["executionCount"] >= 2

        print(f"\nkilled after {side.received_at_kill} activates ({side.started_at_kill} "
              f"started); {creator.failed_with_the_crash} creates failed with the crash "
              f"({creator.landed_despite_the_error} had landed); "
              f"{len(repeated)} activates repeated after the restart; "
              f"all running {recovery:.1f} s after the restart; "
              f"{agent.publish_failures} replies lost with the server")


async def _async(value: Any) -> Any:
    return value


async def test_kill_9_mid_work_then_restart_finishes_every_start_exactly_once(
        backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend) as db_url:
        server = ServerProcess(tmp_path, db_url)
        try:
            await crash_and_restart(server)
        except BaseException:
            print(f"--- server log (start {server.starts}):\n{server.log_tail()}")
            raise
        finally:
            server.stop()
