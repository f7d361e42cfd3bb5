"""The agent's handlers called directly over the server's bus (as the process pool does):
idempotent activates, ping replies (§10), progress replies for a slow stop, volumes, and
error replies a person can act on. The agent is a real ``corral agent`` subprocess."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.conftest import TIMEOUT_FACTOR, RunningServer
from tests.integration import test_agent_process as support
from tests.integration.test_agent_process import (
    AgentProcess,
    eventually,
    live_pids_with,
    pid_alive,
    sleeper,
)

from corral.errors import ErrorReply
from corral.protocol import names
from corral.protocol.event import Event
from corral.protocol.ids import parse_id

NewAgent = Callable[..., Awaitable[AgentProcess]]
new_agent = support.new_agent  # the fixture: an agent subprocess registered with a token


class Caller:
    """Makes calls to one agent through the in-process server's bus."""

    def __init__(self, server: RunningServer, agent: AgentProcess) -> None:
        self.server = server
        self.data_dir = agent.data_dir
        keys = json.loads((agent.data_dir / "agent.json").read_text())
        self.agent_wire_id = keys["agentId"]
        self.agent_id = parse_id("agent", keys["agentId"])

    async def __call__(self, name: str, data: dict[str, Any], *, resource_type: str = "instance",
                       resource_id: str | None = "1i999", timeout: float = 10.0,
                       on_progress: Any = None) -> dict[str, Any]:
        event = Event.new(names.qualify(name, agent_id=self.agent_id), data=data,
                          resource_type=resource_type, resource_id=resource_id)
        reply = await self.server.services.bus.call(event, timeout=timeout * TIMEOUT_FACTOR,
                                                    on_progress=on_progress)
        assert reply.previous_ids == [event.id]
        return reply.data or {}

    async def ping(self, **options: bool) -> list[dict[str, Any]]:
        data = await self("ping", {"options": options}, resource_type="agent",
                          resource_id=self.agent_wire_id)
        return list(data["resources"])


@pytest.fixture
async def caller(server: RunningServer, new_agent: NewAgent) -> Caller:
    return Caller(server, await new_agent("node-c"))


def instance(uid: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {"instance": {"uuid": uid, "name": uid, "command": command, **extra}, "host": {}}


async def test_activate_sent_many_times_at_once_starts_one_process(caller: Caller) -> None:
    marker = f"corral-calls-{uuid.uuid4().hex[:8]}"
    uid = f"i-{marker}"
    replies = await asyncio.gather(*(caller("compute.instance.activate",
                                            instance(uid, sleeper(marker)))
                                     for _ in range(5)))
    pids = {r["instance"]["externalId"] for r in replies}
    assert len(pids) == 1
    pid = int(pids.pop())
    assert live_pids_with(marker) == [pid]

    resources = await caller.ping(instances=True, stats=True)
    host = resources[0]
    assert host["type"] == "host" and host["hostname"] == "node-c"
    assert host["agentId"] == caller.agent_wire_id and "stats" in host
    mine = [r for r in resources[1:] if r["uuid"] == uid]
    assert mine == [{"type": "instance", "uuid": uid, "state": "running",
                     "externalId": str(pid), "exitCode": None}]
    assert len(await caller.ping()) == 1  # instances only when asked

    stopped = await caller("compute.instance.deactivate", instance(uid, []))
    assert "exitCode" in stopped["instance"] and not pid_alive(pid)
    again = await caller("compute.instance.deactivate", instance(uid, []))  # idempotent
    assert again == stopped
    await caller("compute.instance.remove", instance(uid, []))
    await caller("compute.instance.remove", instance(uid, []))
    assert [r for r in await caller.ping(instances=True) if r.get("uuid") == uid] == []


async def test_a_slow_stop_keeps_the_call_alive_with_progress_replies(caller: Caller) -> None:
    marker = f"corral-stubborn-{uuid.uuid4().hex[:8]}"
    uid = f"i-{marker}"
    stubborn = [sys.executable, "-c", ("import signal, time; signal.signal(signal.SIGTERM, "
                                       f"signal.SIG_IGN); marker = {marker!r}; time.sleep(60)")]
    started = await caller("compute.instance.activate", instance(uid, stubborn))
    pid = int(started["instance"]["externalId"])
    await asyncio.sleep(0.3)  # let it install its SIGTERM handler
    progress: list[Event] = []
    data = {**instance(uid, []), "processData": {"timeout": 2}}
    # The call's own timeout (1 s) is shorter than the stop (2 s + SIGKILL): only the
    # progress replies keep it going.
    stopped = await caller("compute.instance.deactivate", data, timeout=1.0,
                           on_progress=progress.append)
    assert progress and progress[0].transitioning == "yes"
    assert stopped["instance"]["exitCode"] == 128 + 9
    assert not pid_alive(pid) and live_pids_with(marker) == []


async def test_errors_come_back_as_error_replies_a_person_can_act_on(caller: Caller) -> None:
    with pytest.raises(ErrorReply) as missing:
        await caller("compute.instance.activate",
                     instance("i-missing", ["corral-not-a-command-91c2"]))
    assert "command not found: 'corral-not-a-command-91c2'" in str(missing.value)
    with pytest.raises(ErrorReply) as workdir:
        await caller("compute.instance.activate",
                     instance("i-workdir", ["true"], workingDir="/nonexistent/corral"))
    assert "working directory does not exist: /nonexistent/corral" in str(workdir.value)
    with pytest.raises(ErrorReply) as no_uuid:
        await caller("compute.instance.activate", {"instance": {"command": ["true"]}})
    assert "has no uuid" in str(no_uuid.value)
    with pytest.raises(ErrorReply) as bad_uuid:
        await caller("compute.instance.activate", instance("../escape", ["true"]))
    assert "invalid instance uuid" in str(bad_uuid.value)


async def test_volumes_are_directories_that_live_until_removed(caller: Caller) -> None:
    volume = {"volume": {"uuid": "v-1", "name": "data1"}}
    await caller("storage.volume.activate", volume, resource_type="volume", resource_id="1v1")
    await caller("storage.volume.activate", volume, resource_type="volume", resource_id="1v1")
    marker = f"corral-vol-{uuid.uuid4().hex[:8]}"
    uid = f"i-{marker}"
    write = [sys.executable, "-c", ("import os, time; d = os.environ['CORRAL_VOLUMES']; "
                                    f"open(os.path.join(d, 'hello'), 'w').write('hi'); "
                                    f"marker = {marker!r}; time.sleep(60)")]
    await caller("compute.instance.activate", instance(uid, write, volumes=["data1"]))
    hello = caller.data_dir / "volumes" / "data1" / "hello"

    async def written() -> bool:
        return hello.exists() and hello.read_text() == "hi"

    await eventually(written, what="the instance wrote into its volume")
    with pytest.raises(ErrorReply) as busy:
        await caller("storage.volume.remove", volume, resource_type="volume",
                     resource_id="1v1")
    assert "in use" in str(busy.value)
    await caller("compute.instance.remove", instance(uid, []))
    await caller("storage.volume.deactivate", volume, resource_type="volume", resource_id="1v1")
    assert hello.exists()  # deactivate keeps the data
    await caller("storage.volume.remove", volume, resource_type="volume", resource_id="1v1")
    assert not hello.parent.exists()
    await caller("storage.volume.remove", volume, resource_type="volume", resource_id="1v1")
