"""The seed's scenario end to end: the example subscriber deployed as a corral instance with
the create_agent labels (so nobody types a key), run by a real ``corral agent`` as a real
process; removing a stack shows its ``resource.change`` in the instance's output log."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from tests.conftest import RunningServer
from tests.e2e.engine_support import eventually, free_port
from tests.integration.test_agent_process import SETTINGS, AgentProcess, wait_state

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scale_subscriber" / "main.py"
LABELS = {"io.rancher.container.create_agent": "true",
          "io.rancher.container.agent.role": "environment"}


async def health(port: int) -> int:
    try:
        async with aiohttp.ClientSession() as s, s.get(
                f"http://127.0.0.1:{port}/healthcheck", timeout=aiohttp.ClientTimeout(total=2)
        ) as r:
            return r.status
    except (aiohttp.ClientError, OSError, TimeoutError):
        return 0


def printed(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue  # a line being written
    return lines


async def test_the_example_as_a_labelled_instance_prints_a_stack_removal(
        server: RunningServer, api: httpx.AsyncClient, tmp_path: Path) -> None:
    for name, value in SETTINGS.items():
        assert (await api.put(f"/v1/settings/{name}", json={"value": value})).status_code == 200
    project = (await api.get("/v1/projects", params={"name": "Default"})).json()["data"][0]
    scoped = f"/v1/projects/{project['id']}"
    token = (await api.post("/v1/registrationtokens", json={})).json()["token"]
    agent = AgentProcess(server, token, tmp_path / "node-sub", "node-sub")
    agent.start()
    try:
        await agent.wait_ready()
        port = free_port()
        r = await api.post(f"{scoped}/instances", json={
            "name": "scale-subscriber", "command": [sys.executable, str(EXAMPLE)],
            "labels": LABELS,
            "environment": {"HEALTHCHECK_PORT": str(port), "HEALTHCHECK_HOST": "127.0.0.1"}})
        assert r.status_code == 201, r.text
        url = f"/v1/instances/{r.json()['id']}"
        instance = await wait_state(api, url, "running")
        assert "CATTLE_SECRET_KEY" not in json.dumps(instance)
        log = agent.data_dir / "instances" / instance["uuid"] / "output.log"

        async def healthy() -> bool:
            return await health(port) == 200
        await eventually(healthy, f"healthcheck 200 (log: {log})", timeout=30)

        stack = (await api.post(f"{scoped}/stacks", json={"name": "doomed"})).json()
        await wait_state(api, f"/v1/stacks/{stack['id']}", "active")
        assert (await api.delete(f"/v1/stacks/{stack['id']}")).status_code in (200, 202, 204)

        async def removal() -> list[dict[str, Any]]:
            return [line for line in printed(log) if line.get("resourceType") == "stack"
                    and line.get("resourceId") == stack["id"]
                    and line["data"]["resource"]["state"] == "removed"]

        seen = await eventually(removal, "the stack's removal in the instance log", timeout=20)
        assert seen[0]["data"]["resource"]["name"] == "doomed"
        # the project key sees its project's resources only, in the project's view
        assert all(line["seq"] for line in printed(log))

        r = await api.post(url, params={"action": "stop"})
        assert r.status_code == 200, r.text
        await wait_state(api, url, "stopped")

        async def unhealthy() -> bool:
            return await health(port) == 0  # the process is gone, and its port with it
        await eventually(unhealthy, "the subscriber stopped")
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        agent.stop(signal.SIGKILL)
        agent.kill_instances()
