"""Two real ``corral agent`` processes and a real ``corral server`` process, on SQLite and
PostgreSQL: 50 instances spread over both hosts, each a real process; the server killed
with ``kill -9`` and started again (the agents reconnect, nothing is started twice); an
agent frozen with SIGSTOP while instances are created, then thawed (every instance still
reaches ``running``); a process that dies becomes a ``stopped`` instance; stop and remove."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import TIMEOUT_FACTOR
from tests.e2e.engine_support import ServerProcess, eventually, fresh_database, set_settings
from tests.integration.test_agent_process import AgentProcess, live_pids_with, pid_alive

pytestmark = pytest.mark.e2e

FIRST, FROZEN = 50, 10
SETTINGS = {"process.replay.interval.seconds": "1", "process.retry_max_wait.millis": "500",
            "eventing.timeout.millis": str(int(3000 * TIMEOUT_FACTOR))}


def command(marker: str) -> list[str]:
    # sh stays the instance's main process (its argv carries the marker); sleep is its child
    return ["sh", "-c", "sleep 300; true", marker]


async def create(api: httpx.AsyncClient, prefix: str, first: int, count: int) -> list[str]:
    limit = asyncio.Semaphore(8)

    async def one(i: int) -> str:
        async with limit:
            r = await api.post("/v1/instances", json={"name": f"{prefix}-{i:03d}",
                                                      "command": command(f"{prefix}-{i:03d}")})
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    return list(await asyncio.gather(*(one(i) for i in range(first, first + count))))


async def instances(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await api.get("/v1/instances", params={"limit": "1000"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def all_running(api: httpx.AsyncClient, count: int, timeout: float = 60.0
                      ) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        data = await instances(api)
        ok = len(data) == count and all(
            i["state"] == "running" and i["transitioning"] == "no" for i in data)
        return data if ok else None
    return list(await eventually(check, f"{count} instances running", timeout=timeout))


async def fleet(server: ServerProcess, tmp_path: Path, agents: list[AgentProcess]) -> None:
    prefix = f"fleet-{os.getpid()}-{tmp_path.name[-6:]}"
    await server.start()
    async with server.client() as api:
        await set_settings(api, SETTINGS)
        token = (await api.post("/v1/registrationtokens", json={})).json()["token"]
        for n in (1, 2):
            agents.append(AgentProcess(server, token, tmp_path / f"agent-{n}", f"fleet-{n}"))
        for agent in agents:
            agent.start()
        for agent in agents:
            await agent.wait_ready()

        async def hosts_active() -> bool:
            hosts = (await api.get("/v1/hosts")).json()["data"]
            return len(hosts) == 2 and all(h["state"] == "active" for h in hosts)

        await eventually(hosts_active, "two active hosts", timeout=15)

        await create(api, prefix, 0, FIRST)
        running = await all_running(api, FIRST)
        pids = {i["id"]: int(i["externalId"]) for i in running}
        assert len(set(pids.values())) == FIRST and all(pid_alive(p) for p in pids.values())
        assert len(live_pids_with(prefix)) == FIRST
        per_host = {h: sum(1 for i in running if i["hostId"] == h)
                    for h in {i["hostId"] for i in running}}
        assert len(per_host) == 2 and min(per_host.values()) >= FIRST // 4, per_host

        # -- the server dies and comes back: the agents subscribe again, nothing restarts
        server.kill9()
        await server.start()
        for agent in agents:
            await agent.wait_ready(connections=2)
        assert {i["id"]: int(i["externalId"]) for i in await all_running(api, FIRST)} == pids
        assert len(live_pids_with(prefix)) == FIRST

        # -- an agent frozen while work arrives for it
        frozen = agents[0]
        assert frozen.proc is not None
        os.kill(frozen.proc.pid, signal.SIGSTOP)
        try:
            await create(api, prefix, FIRST, FROZEN)
            await asyncio.sleep(4 * TIMEOUT_FACTOR)  # longer than a call's timeout
        finally:
            os.kill(frozen.proc.pid, signal.SIGCONT)
        running = await all_running(api, FIRST + FROZEN)
        assert len(live_pids_with(prefix)) == FIRST + FROZEN
        assert all(pid_alive(int(i["externalId"])) for i in running)

        # -- a process that dies on its own: its instance becomes stopped
        victim = running[0]
        os.kill(int(victim["externalId"]), signal.SIGKILL)

        async def victim_stopped() -> bool:
            body = (await api.get(f"/v1/instances/{victim['id']}")).json()
            return body["state"] == "stopped" and body["transitioning"] == "no"

        await eventually(victim_stopped, "the dead instance stopped", timeout=20)

        # -- stop five, remove five: their processes are gone
        for inst in running[1:6]:
            assert (await api.post(f"/v1/instances/{inst['id']}",
                                   params={"action": "stop"})).status_code == 200
        for inst in running[6:11]:
            assert (await api.delete(f"/v1/instances/{inst['id']}")).status_code == 200

        async def settled() -> bool:
            by_id = {i["id"]: i for i in await instances(api)}
            return all(by_id[i["id"]]["state"] == "stopped" for i in running[1:6]) and all(
                by_id[i["id"]]["state"] == "removed" for i in running[6:11])

        await eventually(settled, "five stopped and five removed", timeout=30)
        assert not any(pid_alive(int(i["externalId"])) for i in running[:11])
        assert len(live_pids_with(prefix)) == FIRST + FROZEN - 11


async def test_two_agents_fifty_instances_a_server_crash_and_a_frozen_agent(
        backend: str, tmp_path: Path) -> None:
    agents: list[AgentProcess] = []
    async with fresh_database(backend) as db_url:
        workdir = tmp_path / "server"
        workdir.mkdir()
        server = ServerProcess(workdir, db_url)
        try:
            await fleet(server, tmp_path, agents)
        except BaseException:
            print(f"--- server log (start {server.starts}):\n{server.log_tail()}")
            for agent in agents:
                print(f"--- {agent.hostname} log:\n{agent.log_text()[-4000:]}")
            raise
        finally:
            for agent in agents:
                agent.stop(signal.SIGKILL)
            for agent in agents:
                agent.kill_instances()
            server.stop()
