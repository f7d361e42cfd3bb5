"""``corral agent`` as a real subprocess against a real server: registration with a token,
instances as real OS processes through start, stop, start, remove; errors a person can read;
exits reported as container events; a restart that neither registers again nor starts a
second copy."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from corral.agent.runtime import procfs
from tests.conftest import RunningServer
from tests.conftest import eventually as shared_eventually

SETTINGS = {"eventing.timeout.millis": "5000", "process.retry_max_wait.millis": "300",
            "process.replay.interval.seconds": "1"}


# waits here are for real processes: a longer default than the shared helper's
eventually = functools.partial(shared_eventually, timeout=15.0)


def pid_alive(pid: int) -> bool:
    """True for a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = procfs.read_stat(pid)
    return stat is not None and not stat.defunct


def live_pids_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes() and \
                        pid_alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


class HasUrl(Protocol):
    @property
    def url(self) -> str: ...


class AgentProcess:
    """One ``python -m corral.cli agent`` subprocess with its own data dir."""

    def __init__(self, server: HasUrl, token: str, data_dir: Path, hostname: str) -> None:
        self.server, self.token, self.data_dir, self.hostname = server, token, data_dir, hostname
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self.out = data_dir.parent / f"{data_dir.name}.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # --token=<t>: a token may start with "-", which argparse would take for an option
        argv = [sys.executable, "-m", "corral.cli", "--log-level", "DEBUG", "agent",
                "--url", self.server.url, f"--token={self.token}", "--data-dir",
                str(self.data_dir), "--hostname", self.hostname, "--log-file", str(self.log)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def wait_ready(self, connections: int = 1) -> None:
        """Until the agent has seen the first ping of its ``connections``-th subscription."""
        async def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.out.read_text()
            return self.log_text().count("subscription ready") >= connections
        await eventually(ready, what="agent subscribed")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill_instances(self) -> None:
        """SIGKILL the process group of every instance this agent recorded (if still ours)."""
        for state in self.data_dir.glob("instances/*/state.json"):
            with contextlib.suppress(OSError, ValueError):
                record = json.loads(state.read_text())
                pid = record.get("pid")
                if pid and procfs.start_time_of(pid) == record.get("pidStartTime"):
                    os.killpg(pid, signal.SIGKILL)


@pytest.fixture
async def new_agent(server: RunningServer, api: httpx.AsyncClient, tmp_path: Path
                    ) -> AsyncIterator[Callable[..., Awaitable[AgentProcess]]]:
    """``await new_agent(name)``: a registration token made through the API, an agent
    subprocess started with it and subscribed. Agents and their instances die at teardown."""
    for name, value in SETTINGS.items():
        assert (await api.put(f"/v1/settings/{name}", json={"value": value})).status_code == 200
    started: list[AgentProcess] = []

    async def start(hostname: str = "node-1", data_dir: Path | None = None) -> AgentProcess:
        token = (await api.post("/v1/registrationtokens", json={})).json()["token"]
        agent = AgentProcess(server, token, data_dir or tmp_path / hostname, hostname)
        started.append(agent)
        agent.start()
        await agent.wait_ready()
        return agent

    try:
        yield start
    finally:
        for agent in started:
            agent.stop(signal.SIGKILL)
        for agent in started:
            agent.kill_instances()


def sleeper(marker: str) -> list[str]:
    return [sys.executable, "-c", f"import time; marker = {marker!r}; time.sleep(60)"]


async def wait_state(api: httpx.AsyncClient, url: str, state: str,
                     timeout: float = 15.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = (await api.get(url)).json()
        return body if body["state"] == state and body["transitioning"] == "no" else None
    return await eventually(check, what=f"{url} {state}", timeout=timeout)


async def active_host(api: httpx.AsyncClient, hostname: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        hosts = [h for h in (await api.get("/v1/hosts")).json()["data"]
                 if h["name"] == hostname]
        return hosts[0] if hosts and hosts[0]["state"] == "active" else None
    return await eventually(check, what=f"host {hostname} active")


async def test_an_instance_runs_as_a_real_process_through_start_stop_start_remove(
        api: httpx.AsyncClient, new_agent: Callable[..., Awaitable[AgentProcess]]) -> None:
    agent = await new_agent("node-1")
    keys = json.loads((agent.data_dir / "agent.json").read_text())
    assert (agent.data_dir / "agent.json").stat().st_mode & 0o777 == 0o600
    host = await active_host(api, "node-1")
    assert host["id"] == keys["hostId"] and host["agentId"] == keys["agentId"]

    marker = f"corral-agent-test-{uuid.uuid4().hex[:8]}"
    r = await api.post("/v1/instances", json={"name": "sleeper", "command": sleeper(marker),
                                              "environment": {"GREETING": "hi"}})
    assert r.status_code == 201, r.text
    url = f"/v1/instances/{r.json()['id']}"
    running = await wait_state(api, url, "running")
    pid = int(running["externalId"])
    assert pid_alive(pid) and live_pids_with(marker) == [pid]
    assert running["hostId"] == host["id"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"GREETING=hi" in environ

    r = await api.post(url, params={"action": "stop"})
    assert r.status_code == 200, r.text
    await wait_state(api, url, "stopped")
    assert not pid_alive(pid)

    r = await api.post(url, params={"action": "start"})
    assert r.status_code == 200, r.text
    again = await wait_state(api, url, "running")
    pid2 = int(again["externalId"])
    assert pid2 != pid and pid_alive(pid2) and live_pids_with(marker) == [pid2]

    r = await api.delete(url)
    assert r.status_code == 200, r.text
    await wait_state(api, url, "removed")
    assert not pid_alive(pid2) and live_pids_with(marker) == []
    uuid_ = running["uuid"]
    assert not (agent.data_dir / "instances" / uuid_).exists()

    log = agent.log_text()
    assert "activate instance=" in log
    assert keys["secretKey"] not in log and agent.token not in log
    assert keys["secretKey"] not in agent.out.read_text()


async def test_a_restarted_agent_reuses_its_keys_and_does_not_start_the_instance_twice(
        api: httpx.AsyncClient, new_agent: Callable[..., Awaitable[AgentProcess]]) -> None:
    agent = await new_agent("node-r")
    await active_host(api, "node-r")
    marker = f"corral-agent-restart-{uuid.uuid4().hex[:8]}"
    inst = (await api.post("/v1/instances", json={"command": sleeper(marker)})).json()
    url = f"/v1/instances/{inst['id']}"
    pid = int((await wait_state(api, url, "running"))["externalId"])

    agent.stop(signal.SIGKILL)  # the hard way: no goodbye
    assert pid_alive(pid)
    agent.start()
    await agent.wait_ready(connections=2)
    assert "using saved keys" in agent.log_text()
    hosts = (await api.get("/v1/hosts")).json()["data"]
    assert [h["name"] for h in hosts] == ["node-r"]
    assert "adopted instance" in agent.log_text()
    assert live_pids_with(marker) == [pid]
    assert (await api.get(url)).json()["externalId"] == str(pid)

    # The new agent controls the old process: stopping it through the API ends it.
    r = await api.post(url, params={"action": "stop"})
    assert r.status_code == 200, r.text
    await wait_state(api, url, "stopped")
    assert not pid_alive(pid)


async def test_a_command_that_does_not_exist_shows_an_error_naming_it(
        api: httpx.AsyncClient, new_agent: Callable[..., Awaitable[AgentProcess]]) -> None:
    await new_agent("node-e")
    await active_host(api, "node-e")
    inst = (await api.post("/v1/instances",
                           json={"command": ["corral-no-such-command-7f3a", "--help"]})).json()
    url = f"/v1/instances/{inst['id']}"

    async def shows_error() -> dict[str, Any] | None:
        body = (await api.get(url)).json()
        return body if body["transitioning"] == "error" else None

    body = await eventually(shows_error, what="transitioning error")
    message = body["transitioningMessage"]
    assert "command not found" in message and "corral-no-such-command-7f3a" in message


async def test_a_process_that_dies_on_its_own_is_reported_and_the_instance_stops(
        api: httpx.AsyncClient, new_agent: Callable[..., Awaitable[AgentProcess]]) -> None:
    agent = await new_agent("node-d")
    host = await active_host(api, "node-d")
    marker = f"corral-agent-dies-{uuid.uuid4().hex[:8]}"
    inst = (await api.post("/v1/instances", json={"command": sleeper(marker)})).json()
    url = f"/v1/instances/{inst['id']}"
    pid = int((await wait_state(api, url, "running"))["externalId"])

    os.kill(pid, signal.SIGKILL)  # killed outside corral

    async def reported() -> list[dict[str, Any]]:
        return (await api.get("/v1/containerevents",
                              params={"externalId": str(pid)})).json()["data"]

    events = await eventually(reported, what="container event")
    assert events[0]["externalStatus"] == "die" and events[0]["exitCode"] == 128 + 9
    assert events[0]["hostId"] == host["id"]
    await wait_state(api, url, "stopped")
    assert f"reported exit of instance {inst['uuid']}" in agent.log_text()


async def test_a_revoked_token_registers_nothing_and_the_agent_says_why(
        server: RunningServer, api: httpx.AsyncClient, tmp_path: Path) -> None:
    token = (await api.post("/v1/registrationtokens", json={})).json()
    r = await api.post(f"/v1/registrationtokens/{token['id']}", params={"action": "deactivate"})
    assert r.status_code == 200, r.text
    agent = AgentProcess(server, token["token"], tmp_path / "revoked", "node-x")
    agent.start()
    assert agent.proc is not None
    try:
        async def exited() -> bool:
            return agent.proc is not None and agent.proc.poll() is not None

        await eventually(exited, what="agent exit")
    finally:
        agent.stop(signal.SIGKILL)
    assert agent.proc.returncode == 1
    out = agent.out.read_text()
    assert "registration refused" in out and "HTTP 401" in out and token["token"] not in out
    assert not (agent.data_dir / "agent.json").exists()
    assert (await api.get("/v1/hosts")).json()["data"] == []
