"""The process pool end to end: a real server, a scripted agent over a real WebSocket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from corral.engine.submit import submit
from corral.resources.agents import register_agent
from corral.store import tables
from tests.conftest import TIMEOUT_FACTOR, RunningServer, eventually
from tests.scripted_agent import Reply, ScriptedAgent, succeed


async def set_settings(api: httpx.AsyncClient, **values: str) -> None:
    for name, value in values.items():
        r = await api.put(f"/v1/settings/{name.replace('__', '.')}", json={"value": value})
        assert r.status_code == 200, r.text


FAST = {"eventing.timeout.millis": "400", "process.retry_max_wait.millis": "100",
        "process.replay.interval.seconds": "1"}


@pytest.fixture
async def agent_env(server: RunningServer, api: httpx.AsyncClient
                    ) -> AsyncIterator[dict[str, Any]]:
    for name, value in FAST.items():
        await api.put(f"/v1/settings/{name}", json={"value": value})
    project = (await api.get("/v1/projects")).json()["data"][0]
    async with server.services.store.tx() as conn:
        reg = await register_agent(conn, project_id=int(project["id"][2:]), hostname="h1",
                                   server_id="test")
    server.services.wake_engine()
    host_url = f"/v1/hosts/1h{reg.host_id}"
    await eventually(lambda: _state_is(api, host_url, "active"))
    yield {"reg": reg, "project": project}


async def _state_is(api: httpx.AsyncClient, url: str, state: str,
                    transitioning: str = "no") -> dict[str, Any] | None:
    body = (await api.get(url)).json()
    return body if body["state"] == state and body["transitioning"] == transitioning else None


def scripted(server: RunningServer, env: dict[str, Any], policy: Any = succeed) -> ScriptedAgent:
    reg = env["reg"]
    return ScriptedAgent(server.url, reg.access_key, reg.secret_key, reg.agent_id, policy)


async def processes(api: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    return (await api.get("/v1/processinstances", params=filters)).json()["data"]


async def test_reply_brings_the_instance_to_running_and_is_logged(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    async with scripted(server, agent_env) as agent:
        r = await api.post("/v1/instances", json={"name": "web", "command": ["sleep", "60"]})
        assert r.status_code == 201
        inst = r.json()
        assert inst["state"] == "requested" and inst["transitioning"] == "yes"
        assert inst["actions"] == {}
        url = f"/v1/instances/{inst['id']}"
        done = await eventually(lambda: _state_is(api, url, "running"))
        assert done["externalId"] == "4242"
        assert done["hostId"] == f"1h{agent_env['reg'].host_id}"
        assert set(done["actions"]) >= {"stop", "restart"}
        sent = agent.commands("compute.instance.activate")
        assert len(sent) == 1
        assert sent[0]["resourceId"] == inst["id"] and sent[0]["replyTo"].startswith("reply.")
        assert sent[0]["data"]["instance"]["command"] == ["sleep", "60"]
        procs = await processes(api, resourceId=inst["id"][2:], resourceType="instance")
        assert [(p["processName"], p["result"], p["exitReason"]) for p in procs] == [
            ("instance.create", "SUCCESS", "CHAIN"), ("instance.start", "SUCCESS", "DONE")]
        execs = (await api.get(procs[1]["links"]["processExecutions"])).json()["data"]
        entries = execs[0]["log"]["attempts"][0]["entries"]
        kinds = [e["type"] for e in entries]
        assert "event" in kinds and "reply" in kinds


async def test_no_reply_times_out_and_the_work_is_sent_again_as_a_new_event(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    answered = 0

    def third_time(event: dict[str, Any]) -> Reply | None:
        nonlocal answered
        answered += 1
        return succeed(event) if answered >= 3 else None

    async with scripted(server, agent_env, third_time) as agent:
        inst = (await api.post("/v1/instances", json={"name": "slow"})).json()
        await eventually(lambda: _state_is(api, f"/v1/instances/{inst['id']}", "running"))
        sent = agent.commands("compute.instance.activate")
        assert len(sent) == 3
        assert len({e["id"] for e in sent}) == 3
        assert {e["resourceId"] for e in sent} == {inst["id"]}
        start = (await processes(api, processName="instance.start",
                                 resourceId=inst["id"][2:]))[0]
        assert start["executionCount"] == 3 and start["result"] == "SUCCESS"
        execs = (await api.get(start["links"]["processExecutions"])).json()["data"]
        reasons = [e["log"]["attempts"][0]["exitReason"] for e in execs]
        assert reasons == ["TIMEOUT", "TIMEOUT", "DONE"]


async def test_error_reply_shows_on_the_resource_then_succeeds_on_retry(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    calls = 0
    seen_error = asyncio.Event()

    def fail_once(event: dict[str, Any]) -> Reply:
        nonlocal calls
        calls += 1
        if calls == 1:
            return Reply(transitioning="error", message="command not found: 'nope'")
        return Reply(delay=0.1, data={"instance": {"externalId": "7"}})

    async with scripted(server, agent_env, fail_once):
        await set_settings(api, **{"process.retry_max_wait.millis": "300"})
        inst = (await api.post("/v1/instances", json={"name": "flaky"})).json()
        url = f"/v1/instances/{inst['id']}"

        async def shows_error() -> bool:
            body = (await api.get(url)).json()
            if body["transitioning"] == "error":
                assert body["transitioningMessage"] == "command not found: 'nope'"
                seen_error.set()
            return seen_error.is_set()

        await eventually(shows_error)
        done = await eventually(lambda: _state_is(api, url, "running"))
        assert done["transitioningMessage"] is None and done["externalId"] == "7"


async def test_overall_timeout_fails_the_process_and_puts_the_resource_in_error(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    async with scripted(server, agent_env, lambda e: None) as agent:
        await set_settings(api, **{"process.instance.start.timeout.seconds": "1",
                                   "eventing.timeout.millis": "300"})
        inst = (await api.post("/v1/instances", json={"name": "never"})).json()
        url = f"/v1/instances/{inst['id']}"
        body = await eventually(lambda: _state_is(api, url, "error", "error"))
        assert body["transitioningMessage"]
        start = (await processes(api, processName="instance.start",
                                 resourceId=inst["id"][2:]))[0]
        assert start["result"] == "FAILURE" and start["exitReason"] == "TIMEOUT"
        assert start["endTime"] is not None
        assert len(agent.commands()) >= 2


async def test_two_processes_on_one_resource_never_overlap(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    async with scripted(server, agent_env, lambda e: Reply(delay=0.2)) as agent:
        inst = (await api.post("/v1/instances", json={"name": "one",
                                                      "startOnCreate": False})).json()
        url = f"/v1/instances/{inst['id']}"
        await eventually(lambda: _state_is(api, url, "stopped"))
        row_id = int(inst["id"][2:])
        async with server.services.store.tx() as conn:
            for name in ("instance.start", "instance.stop", "instance.start", "instance.stop"):
                await submit(conn, name, resource_type="instance", resource_id=row_id,
                             account_id=int(agent_env["project"]["id"][2:]))
        server.services.wake_engine()

        async def all_done() -> bool:
            return all(p["endTime"] for p in await processes(api, resourceId=str(row_id),
                                                             resourceType="instance"))

        await eventually(all_done)
        names = [e["name"] for e in agent.commands()]
        assert names == ["compute.instance.activate", "compute.instance.deactivate"] * 2
        assert agent.max_in_flight == 1
        assert (await api.get(url)).json()["state"] == "stopped"


async def test_delete_of_a_running_instance_stops_then_removes_it(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    async with scripted(server, agent_env) as agent:
        inst = (await api.post("/v1/instances", json={"name": "bye"})).json()
        url = f"/v1/instances/{inst['id']}"
        await eventually(lambda: _state_is(api, url, "running"))
        r = await api.delete(url)
        assert r.status_code == 200 and r.json()["transitioning"] == "yes"
        body = await eventually(lambda: _state_is(api, url, "removed"))
        assert body["removed"] is not None
        assert [e["name"] for e in agent.commands()][-2:] == [
            "compute.instance.deactivate", "compute.instance.remove"]
        purge = await processes(api, processName="instance.purge", resourceId=inst["id"][2:])
        assert len(purge) == 1 and purge[0]["endTime"] is None  # later, after the delay


async def test_purge_with_settings_lowered_at_run_time_removes_exactly_what_it_should(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    store = server.services.store
    pi, ce = tables.process_instance, tables.container_event
    project_id = int(agent_env["project"]["id"][2:])
    old = int(time.time() * 1000) - 3_600_000
    async with store.tx() as conn:
        finished = await submit(conn, "host.update", resource_type="host",
                                resource_id=agent_env["reg"].host_id, account_id=project_id,
                                run_after=old + 10**10)
        await conn.execute(sa.update(pi).where(pi.c.id == finished).values(
            end_time=old, result="SUCCESS", phase="DONE"))
        unfinished = await submit(conn, "host.update", resource_type="host",
                                  resource_id=agent_env["reg"].host_id, account_id=project_id,
                                  run_after=old + 10**10)
        await conn.execute(sa.update(pi).where(pi.c.id == unfinished).values(start_time=old))
        old_event = (await conn.execute(sa.insert(ce).values(
            uuid="ce-old", kind="containerEvent", state="created", created=old,
            account_id=project_id, external_id="1", external_status="die", data={})
            .returning(ce.c.id))).scalar_one()
        new_event = (await conn.execute(sa.insert(ce).values(
            uuid="ce-new", kind="containerEvent", state="created", created=old + 3_000_000,
            account_id=project_id, external_id="2", external_status="die", data={})
            .returning(ce.c.id))).scalar_one()
    runs = server.server.purge.runs
    await set_settings(api, **{"process_instance.purge.after.seconds": "60",
                               "events.purge.after.seconds": "1800",
                               "cleanup.query_limit.rows": "1",
                               "cleanup.interval.seconds": "1"})
    await eventually(lambda: _async(server.server.purge.runs > runs), timeout=10)

    async def ids(table: sa.Table) -> set[int]:
        return {r.id for r in await store.fetch_all(sa.select(table.c.id))}

    remaining = await ids(pi)
    assert finished not in remaining and unfinished in remaining
    assert old_event not in await ids(ce) and new_event in await ids(ce)


async def _async(value: Any) -> Any:
    return value


async def test_a_container_event_from_the_agent_brings_the_instance_to_stopped(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    reg = agent_env["reg"]
    async with scripted(server, agent_env) as agent:
        inst = (await api.post("/v1/instances", json={"name": "dies"})).json()
        url = f"/v1/instances/{inst['id']}"
        await eventually(lambda: _state_is(api, url, "running"))
        async with server.client((reg.access_key, reg.secret_key)) as as_agent:
            r = await as_agent.post("/v1/containerevents",
                                    json={"externalId": "4242", "externalStatus": "die"})
            assert r.status_code == 201, r.text
            assert r.json()["hostId"] == f"1h{reg.host_id}"
        await eventually(lambda: _state_is(api, url, "stopped"))
        assert agent.commands()[-1]["name"] == "compute.instance.deactivate"
        stop = await processes(api, processName="instance.stop", resourceId=inst["id"][2:])
        assert stop[0]["data"]["reason"] == "containerEvent die"


LABELS = {"io.rancher.container.create_agent": "true",
          "io.rancher.container.agent.role": "environment"}


async def test_create_agent_labels_inject_a_project_key_that_dies_with_the_instance(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    import aiohttp

    from tests.scripted_agent import basic

    async with scripted(server, agent_env) as agent:
        inst = (await api.post("/v1/instances", json={"name": "sub", "labels": LABELS,
                                                      "environment": {"A": "1"}})).json()
        url = f"/v1/instances/{inst['id']}"
        await eventually(lambda: _state_is(api, url, "running"))
        env = agent.commands("compute.instance.activate")[-1]["data"]["instance"]["environment"]
        assert env["A"] == "1"
        assert env["CATTLE_URL"] == f"{server.url}/v1"
        access, secret = env["CATTLE_ACCESS_KEY"], env["CATTLE_SECRET_KEY"]
        assert env["CATTLE_AGENT_INSTANCE_AUTH"] == basic(access, secret)
        # the key works for the API, inside the instance's project only
        async with server.client((access, secret)) as key:
            listed = (await key.get("/v1/instances")).json()["data"]
            assert [i["id"] for i in listed] == [inst["id"]]
        # ... and for subscribing to resource.change
        async with aiohttp.ClientSession(headers={"Authorization": basic(access, secret)}) as s:
            ws = await s.ws_connect(f"{server.url}/v1/subscribe?eventNames=resource.change")
            assert (await ws.receive_json(timeout=5))["name"] == "ping"
            await api.put(url, json={"description": "changed"})
            while True:
                change = await ws.receive_json(timeout=5)
                assert change["name"] in ("ping", "resource.change")
                assert secret not in str(change)
                if change.get("resourceId") == inst["id"]:
                    break
            assert change["data"]["resource"]["description"] == "changed"
            await ws.close()
        # the secret is nowhere in what the API shows of the instance
        assert secret not in (await api.get(url)).text
        assert secret not in (await api.get("/v1/processexecutions")).text
        await api.post(url, params={"action": "stop"})
        await eventually(lambda: _state_is(api, url, "stopped"))
        await api.delete(url)
        await eventually(lambda: _state_is(api, url, "removed"))
        async with server.client((access, secret)) as key:
            assert (await key.get("/v1/instances")).status_code == 401


async def test_an_agent_that_misses_pings_goes_reconnecting_and_comes_back_active(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    await set_settings(api, **{"agent.ping.interval.millis": "100",
                               "agent.ping.timeout.millis": "150",
                               "agent.ping.missed.max": "3"})
    agent_url = f"/v1/agents/1ag{agent_env['reg'].agent_id}"
    async with scripted(server, agent_env) as agent:
        agent.answer_pings = True
        await agent.wait_for(lambda: len([e for e in agent.received
                                          if e["name"] == "ping" and e.get("replyTo")]) >= 5,
                             timeout=5 * TIMEOUT_FACTOR)
        assert (await api.get(agent_url)).json()["state"] == "active"
        agent.paused = True
        await eventually(lambda: _state_is(api, agent_url, "reconnecting", "yes"))
        inst = (await api.post("/v1/instances", json={"name": "waits"})).json()
        url = f"/v1/instances/{inst['id']}"
        await agent.wait_for(lambda: len(agent.commands("compute.instance.activate")) >= 1,
                             timeout=5 * TIMEOUT_FACTOR)
        assert (await api.get(url)).json()["state"] == "starting"
        agent.paused = False
        await eventually(lambda: _state_is(api, agent_url, "active"))
        await eventually(lambda: _state_is(api, url, "running"))
        procs = await processes(api, processName="agent.reconnect")
        assert procs and procs[0]["result"] == "SUCCESS"


async def test_a_long_retried_process_keeps_its_first_and_latest_attempts(
        server: RunningServer, api: httpx.AsyncClient, agent_env: dict[str, Any]) -> None:
    calls = 0

    def fail_twelve_times(event: dict[str, Any]) -> Reply:
        nonlocal calls
        calls += 1
        if calls <= 12:
            return Reply(transitioning="error", message=f"attempt {calls} failed")
        return Reply()

    async with scripted(server, agent_env, fail_twelve_times):
        await set_settings(api, **{"process.retry_max_wait.millis": "50"})
        inst = (await api.post("/v1/instances", json={"name": "stubborn"})).json()
        await eventually(lambda: _state_is(api, f"/v1/instances/{inst['id']}", "running"),
                         timeout=30)
    start = [p for p in await processes(api, resourceId=inst["id"][2:],
                                         resourceType="instance")
             if p["processName"] == "instance.start"]
    assert len(start) == 1 and start[0]["executionCount"] == 13
    execs = (await api.get(start[0]["links"]["processExecutions"])).json()["data"]
    attempts = sorted(a["attempt"] for e in execs for a in e["log"]["attempts"])
    assert attempts == [1, 2, 6, 7, 8, 9, 10, 11, 12, 13]  # the first 2 and the last 8
