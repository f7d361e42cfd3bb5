"""``corral instance create|ls|start|stop|rm`` waiting for the processes to finish: with the
scripted agent in this test's loop, and with a real ``corral agent`` running real processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from tests.conftest import RunningServer
from tests.integration import test_agent_process as _agent_process
from tests.integration import test_cli_commands as _cli
from tests.integration.test_agent_process import (
    AgentProcess,
    active_host,
    live_pids_with,
    pid_alive,
    sleeper,
)
from tests.integration.test_cli_commands import Corral
from tests.scripted_agent import Reply, ScriptedAgent, succeed

from corral.resources.agents import register_agent

# fixtures shared with other modules (assigned, so that parameters may take their names)
backend, cli_env, corral = _cli.backend, _cli.cli_env, _cli.corral
new_agent = _agent_process.new_agent

FAST = {"eventing.timeout.millis": "3000", "process.retry_max_wait.millis": "200",
        "process.replay.interval.seconds": "1"}


@pytest.fixture
async def agent(server: RunningServer, api: httpx.AsyncClient
                ) -> AsyncIterator[ScriptedAgent]:
    """A registered host whose agent is scripted (``agent.policy`` may be swapped)."""
    for name, value in FAST.items():
        assert (await api.put(f"/v1/settings/{name}", json={"value": value})).status_code == 200
    project = (await api.get("/v1/projects")).json()["data"][0]
    async with server.services.store.tx() as conn:
        reg = await register_agent(conn, project_id=int(project["id"][2:]), hostname="h1",
                                   server_id="test")
    server.services.wake_engine()
    async with ScriptedAgent(server.url, reg.access_key, reg.secret_key, reg.agent_id,
                             succeed) as scripted:
        await active_host(api, "h1")
        yield scripted


async def test_instance_create_waits_until_running_and_sends_every_field(
        corral: Corral, agent: ScriptedAgent, api: httpx.AsyncClient) -> None:
    host = (await api.get("/v1/hosts")).json()["data"][0]
    r = await corral("instance", "create", "--name", "web", "--env", "A=1", "--env", "B=x=y",
                     "--label", "tier=front", "--host", host["id"], "--json", "--",
                     "python", "-m", "http.server")
    assert r.code == 0, r.err
    inst = r.json()
    assert (inst["state"], inst["transitioning"]) == ("running", "no")
    assert inst["command"] == ["python", "-m", "http.server"]
    assert inst["environment"] == {"A": "1", "B": "x=y"} and inst["labels"] == {"tier": "front"}
    assert inst["hostId"] == host["id"] and inst["externalId"] == "4242"
    activate = agent.commands("compute.instance.activate")
    assert activate and activate[0]["resourceId"] == inst["id"]

    human = await corral("instance", "create", "--command", "sleep 'a b'")
    assert human.code == 0, human.err
    assert "running" in human.out and human.out.startswith("instance 1i")
    listed = (await corral("instance", "ls", "--json")).json()
    assert [i["command"] for i in listed] == [["python", "-m", "http.server"], ["sleep", "a b"]]
    table = (await corral("instance", "ls")).out
    assert "web" in table and inst["id"] in table and "4242" in table


async def test_instance_stop_start_rm_wait_for_each_process(
        corral: Corral, agent: ScriptedAgent) -> None:
    first = (await corral("instance", "create", "--name", "a", "--json", "--", "sleep", "9")
             ).json()
    second = (await corral("instance", "create", "--name", "b", "--json", "--", "sleep", "9")
              ).json()
    ids = [first["id"], second["id"]]

    async def states(*args: str) -> list[tuple[str, str]]:
        r = await corral("instance", *args, *ids, "--json")
        assert r.code == 0, r.err
        return [(i["state"], i["transitioning"]) for i in r.json()]

    assert await states("stop") == [("stopped", "no")] * 2
    assert await states("start") == [("running", "no")] * 2
    assert await states("rm") == [("removed", "no")] * 2
    assert (await corral("instance", "ls", "--json")).json() == []
    assert len((await corral("instance", "ls", "--all", "--json")).json()) == 2
    names = [e["name"] for e in agent.commands()]
    assert names.count("compute.instance.deactivate") >= 4
    assert names.count("compute.instance.remove") >= 2


async def test_no_wait_returns_while_the_process_runs(corral: Corral,
                                                      agent: ScriptedAgent) -> None:
    agent.policy = lambda event: Reply(delay=1.0) if "activate" in event["name"] \
        else succeed(event)
    r = await corral("instance", "create", "--no-wait", "--json", "--", "sleep", "1")
    assert r.code == 0, r.err
    assert r.json()["transitioning"] == "yes"


async def test_an_error_reply_ends_the_wait_with_exit_1_and_the_message(
        corral: Corral, agent: ScriptedAgent) -> None:
    agent.policy = lambda event: Reply(transitioning="error", message="disk full on h1") \
        if "activate" in event["name"] else succeed(event)
    r = await corral("instance", "create", "--name", "doomed", "--", "sleep", "1")
    assert r.code == 1 and "Traceback" not in r.err
    errors = [line for line in r.err.splitlines() if line.strip()]
    assert len(errors) == 1 and "disk full on h1" in errors[0]
    assert "instance 1i" in errors[0] and "(doomed)" in errors[0]
    as_json = await corral("instance", "create", "--json", "--", "sleep", "1")
    assert as_json.code == 1 and as_json.json()["transitioning"] == "error"


async def test_a_process_that_fails_for_good_exits_1(corral: Corral,
                                                     api: httpx.AsyncClient) -> None:
    # no host at all: instance.create is delayed until its overall timeout fails it
    r = await api.put("/v1/settings/process.instance.create.timeout.seconds",
                      json={"value": "1"})
    assert r.status_code == 200, r.text
    r = await corral("instance", "create", "--name", "nowhere", "--json", "--", "sleep", "1")
    assert r.code == 1, r.err
    inst = r.json()
    assert inst["state"] == "error" and "no active host" in inst["transitioningMessage"]
    assert "no active host" in r.err


async def test_usage_errors_exit_2_with_one_line(corral: Corral) -> None:
    both = await corral("instance", "create", "--command", "sleep 1", "--", "sleep", "2")
    assert both.code == 2 and "either with --command or after --" in both.err
    bad_env = await corral("instance", "create", "--env", "NOEQUALS", "--", "true")
    assert bad_env.code == 2 and "'NOEQUALS' is not KEY=VALUE" in bad_env.err
    nothing = await corral("instance", "create", "--name", "x")
    assert nothing.code == 2 and "no command" in nothing.err


async def test_instance_commands_drive_a_real_agent(
        corral: Corral, api: httpx.AsyncClient,
        new_agent: Callable[..., Awaitable[AgentProcess]]) -> None:
    await new_agent("cli-node")
    await active_host(api, "cli-node")
    marker = f"corral-cli-test-{uuid.uuid4().hex[:8]}"
    created = await corral("instance", "create", "--name", "sleeper", "--env", "GREETING=hi",
                           "--json", "--", *sleeper(marker))
    assert created.code == 0, created.err
    inst: dict[str, Any] = created.json()
    pid = int(inst["externalId"])
    assert inst["state"] == "running" and pid_alive(pid) and live_pids_with(marker) == [pid]

    stopped = await corral("instance", "stop", inst["id"], "--json")
    assert stopped.code == 0 and stopped.json()[0]["state"] == "stopped", stopped.err
    assert not pid_alive(pid)
    started = await corral("instance", "start", inst["id"], "--json")
    assert started.code == 0 and started.json()[0]["state"] == "running", started.err
    pid2 = int(started.json()[0]["externalId"])
    assert pid2 != pid and pid_alive(pid2)
    removed = await corral("instance", "rm", inst["id"])
    assert removed.code == 0, removed.err
    assert f"instance {inst['id']} (sleeper): removed" in removed.out
    assert not pid_alive(pid2) and live_pids_with(marker) == []
