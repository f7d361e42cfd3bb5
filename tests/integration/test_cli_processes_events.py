"""``corral processes`` (views and the execution log) and ``corral events tail``."""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
from typing import Any

import httpx

from tests.conftest import TIMEOUT_FACTOR, RunningServer
from tests.conftest import eventually as shared_eventually
from tests.integration import test_cli_commands as _cli
from tests.integration import test_cli_instances as _instances
from tests.integration.test_cli_commands import Corral
from tests.scripted_agent import ScriptedAgent

# fixtures shared with other modules (assigned, so that parameters may take their names)
backend, cli_env, corral, agent = _cli.backend, _cli.cli_env, _cli.corral, _instances.agent


# waits here include CLI subprocesses: a longer default than the shared helper's
eventually = functools.partial(shared_eventually, timeout=20.0)


async def create_instance(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    r = await api.post("/v1/instances", json={"name": name, "command": ["sleep", "1"]})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def processes_of(corral: Corral, *flags: str) -> list[dict[str, Any]]:
    r = await corral("processes", *flags, "--json")
    assert r.code == 0, r.err
    return list(r.json())


# -- processes ----------------------------------------------------------------------------

async def test_processes_delayed_shows_a_process_waiting_for_a_host(
        corral: Corral, api: httpx.AsyncClient) -> None:
    inst = await create_instance(api, "homeless")  # no host: instance.create is delayed

    async def delayed() -> list[dict[str, Any]]:
        return [p for p in await processes_of(corral, "--delayed")
                if p["resourceId"] == inst["id"]]

    found = (await eventually(delayed, what="a delayed process"))[0]
    assert found["processName"] == "instance.create" and found["endTime"] is None
    assert found["exitReason"] == "DELAY" and found["executionCount"] >= 1
    assert inst["id"] not in json.dumps(await processes_of(corral, "--failed"))
    table = (await corral("processes", "--delayed")).out
    assert found["id"] in table and "instance.create" in table and "delayed" in table


async def test_processes_running_shows_an_attempt_waiting_for_its_agent(
        corral: Corral, api: httpx.AsyncClient, agent: ScriptedAgent) -> None:
    await api.put("/v1/settings/eventing.timeout.millis", json={"value": "30000"})
    agent.policy = lambda event: None  # never answers: the attempt keeps running
    inst = await create_instance(api, "waiting")

    async def running() -> list[dict[str, Any]]:
        return [p for p in await processes_of(corral, "--running")
                if p["resourceId"] == inst["id"]]

    found = (await eventually(running, what="a running process"))[0]
    assert found["runningProcessServerId"] and found["endTime"] is None
    assert "running" in (await corral("processes", "--running")).out


async def test_processes_failed_and_show_give_the_execution_log(
        corral: Corral, api: httpx.AsyncClient) -> None:
    await api.put("/v1/settings/process.instance.create.timeout.seconds", json={"value": "1"})
    inst = await create_instance(api, "doomed")

    async def failed() -> list[dict[str, Any]]:
        return [p for p in await processes_of(corral, "--failed")
                if p["resourceId"] == inst["id"]]

    process = (await eventually(failed, what="a failed process"))[0]
    assert process["result"] == "FAILURE" and process["processName"] == "instance.create"
    everything = await processes_of(corral, "--limit", "5")
    assert process["id"] in [p["id"] for p in everything]

    shown = await corral("processes", "show", process["id"], "--json")
    assert shown.code == 0, shown.err
    body = shown.json()
    assert body["process"]["id"] == process["id"]
    attempts = [a for e in body["executions"] for a in e["log"]["attempts"]]
    assert len(attempts) == process["executionCount"] >= 2
    assert attempts[0]["entries"][0] == {**attempts[0]["entries"][0], "type": "transition",
                                         "from": "requested", "to": "creating"}

    timeline = await corral("processes", "show", process["id"])
    assert timeline.code == 0, timeline.err
    text = timeline.out
    assert f"process {process['id']}" in text and "instance.create" in text
    assert "FAILURE" in text and "attempt 1" in text and "attempt 2" in text
    assert "requested → creating" in text and "no active host" in text


# -- events tail --------------------------------------------------------------------------

async def test_events_tail_since_replays_then_stops_after_count(
        corral: Corral, api: httpx.AsyncClient) -> None:
    one = await create_instance(api, "first")
    two = await create_instance(api, "second")
    r = await corral("events", "tail", "--name", "resource.change", "--since", "0",
                     "--count", "2", "--json", timeout=30)
    assert r.code == 0, r.err
    events = [json.loads(line) for line in r.out.splitlines()]
    assert len(events) == 2 and all(e["name"] == "resource.change" for e in events)
    assert all(isinstance(e["seq"], int) for e in events)
    assert events[0]["seq"] < events[1]["seq"]
    assert {e["resourceId"] for e in events} <= {one["id"], two["id"]}
    assert events[0]["data"]["resource"]["type"] == "instance"

    after = events[0]["seq"]
    again = await corral("events", "tail", "--since", str(after), "--count", "1", "--json",
                         timeout=30)
    first_after = json.loads(again.out.splitlines()[0])
    assert first_after["seq"] > after

    human = await corral("events", "tail", "--since", "0", "--count", "2", timeout=30)
    assert human.code == 0, human.err
    lines = human.out.splitlines()
    assert len(lines) == 2 and "resource.change instance 1i" in lines[0]
    assert "requested" in human.out or "creating" in human.out


async def test_events_tail_prints_live_events_and_ends_on_ctrl_c(
        server: RunningServer, cli_env: dict[str, str], api: httpx.AsyncClient) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "corral.cli", "events", "tail", "--name", "resource.change",
        "--json", env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None

        async def one_event() -> dict[str, Any] | None:
            # the subscription may not be open yet: make changes until one is printed
            await create_instance(api, "live")
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), 1.5)  # type: ignore
            except TimeoutError:
                return None
            return dict(json.loads(line))

        event = await eventually(one_event, what="a live event")
        assert event["name"] == "resource.change"
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 10 * TIMEOUT_FACTOR)
        err = (await proc.stderr.read()).decode()
        assert code == 0 and "Traceback" not in err, err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_events_tail_refusals_are_one_line(corral: Corral) -> None:
    bad_name = await corral("events", "tail", "--name", "no spaces allowed", "--count", "1")
    line = bad_name.one_error_line()
    assert "eventNames" in line and "422" in line
    negative = await corral("events", "tail", "--since", "-5", "--count", "1")
    assert "since" in negative.one_error_line()
