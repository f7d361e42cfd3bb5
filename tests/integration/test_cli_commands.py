"""The ``corral`` client commands as real subprocesses against a real server.

The server runs in this test's event loop, so the CLI runs with
``asyncio.create_subprocess_exec`` and is awaited. These tests exercise the command line,
not the store: they run on SQLite only.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import TIMEOUT_FACTOR, RunningServer


@pytest.fixture
def backend() -> str:
    return "sqlite"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def one_error_line(self) -> str:
        """The single line a failed command prints on stderr (and nothing on stdout)."""
        lines = self.err.strip().splitlines()
        assert self.code == 1, (self.code, self.out, self.err)
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err and self.out == ""
        return lines[0]


Corral = Callable[..., Awaitable[Run]]


async def run_corral(env: dict[str, str], *args: str, timeout: float = 60.0) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "corral.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout * TIMEOUT_FACTOR)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without CATTLE_*/CORRAL_* and with a config file of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CATTLE_", "CORRAL_"))}
    env["CORRAL_CONFIG"] = str(tmp_path / "cli-config" / "config.json")
    env.pop("COLUMNS", None)
    env.update(extra)
    return env


@pytest.fixture
def cli_env(server: RunningServer, tmp_path: Path) -> dict[str, str]:
    access, secret = server.admin_auth
    return clean_env(tmp_path, CATTLE_URL=server.url, CATTLE_ACCESS_KEY=access,
                     CATTLE_SECRET_KEY=secret)


@pytest.fixture
def corral(cli_env: dict[str, str]) -> Corral:
    """``await corral("settings", "ls", "--json")`` with the admin key in CATTLE_*."""
    async def call(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> Run:
        return await run_corral(env or cli_env, *args, timeout=timeout)
    return call


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- login and configuration -------------------------------------------------------------

async def test_login_checks_the_key_and_saves_it_for_later_commands(
        server: RunningServer, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    access, secret = server.admin_auth
    r = await run_corral(env, "login", "--url", server.url, "--access-key", access,
                         "--secret-key", secret, "--json")
    assert r.code == 0, r.err
    path = Path(env["CORRAL_CONFIG"])
    assert r.json()["configFile"] == str(path) and r.json()["apiUrl"] == f"{server.url}/v1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": server.url, "accessKey": access,
                                            "secretKey": secret}
    later = await run_corral(env, "settings", "get", "api.sub.ping.interval.millis")
    assert (later.code, later.out.strip()) == (0, "5000"), later.err
    # the variables win over the file
    bad = await run_corral(env | {"CATTLE_SECRET_KEY": "wrong"}, "host", "ls")
    assert "bad access/secret key" in bad.one_error_line()


async def test_login_with_a_bad_key_saves_nothing(server: RunningServer, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    r = await run_corral(env, "login", "--url", server.url, "--access-key",
                         server.admin_auth[0], "--secret-key", "not-the-secret")
    assert "bad access/secret key" in r.one_error_line()
    assert not Path(env["CORRAL_CONFIG"]).exists()


async def test_without_any_configuration_the_command_says_how_to_configure(
        tmp_path: Path) -> None:
    r = await run_corral(clean_env(tmp_path), "host", "ls")
    line = r.one_error_line()
    assert "no server URL" in line and "--url" in line and "CATTLE_URL" in line
    assert "corral login" in line


# -- clear errors ------------------------------------------------------------------------

async def test_a_server_that_is_down_gives_one_line_saying_what_to_do(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    env = clean_env(tmp_path, CATTLE_URL=url, CATTLE_ACCESS_KEY="A", CATTLE_SECRET_KEY="S")
    for args in (("host", "ls"), ("processes", "--json"), ("events", "tail", "--count", "1"),
                 ("instance", "create", "--", "sleep", "1")):
        line = (await run_corral(env, *args)).one_error_line()
        assert f"cannot reach the corral server at {url}" in line, args
        assert "is the server running" in line and "CATTLE_URL" in line


async def test_a_bad_key_gives_one_line_saying_what_to_do(
        corral: Corral, cli_env: dict[str, str]) -> None:
    env = cli_env | {"CATTLE_SECRET_KEY": "wrong-secret"}
    for args in (("settings", "ls"), ("events", "tail", "--count", "1")):
        line = (await corral(*args, env=env)).one_error_line()
        assert line.startswith("corral: bad access/secret key"), args
        assert "CATTLE_SECRET_KEY" in line and "corral login" in line


async def test_a_wrong_url_path_gives_one_line_saying_what_to_do(
        server: RunningServer, corral: Corral, cli_env: dict[str, str]) -> None:
    env = cli_env | {"CATTLE_URL": f"{server.url}/not-corral"}
    for args in (("host", "ls", "--json"), ("instance", "stop", "1i1")):
        line = (await corral(*args, env=env)).one_error_line()
        assert f"no corral API at {server.url}/not-corral/v1/" in line, args
        assert "--url" in line
    flag = await corral("--url", "localhost:8080", "host", "ls")
    assert "not an http(s) URL" in flag.one_error_line()


async def test_a_missing_resource_is_named(corral: Corral) -> None:
    line = (await corral("processes", "show", "1pi999")).one_error_line()
    assert "processInstance '1pi999' not found" in line


# -- settings, keys, tokens, hosts -------------------------------------------------------

async def test_settings_ls_get_set_for_people_and_for_scripts(
        server: RunningServer, corral: Corral) -> None:
    listed = await corral("settings", "ls", "--json")
    assert listed.code == 0, listed.err
    by_name = {s["name"]: s for s in listed.json()}
    assert by_name["eventing.timeout.millis"]["value"] == "45000"
    changed = await corral("settings", "set", "eventing.timeout.millis", "7000", "--json")
    assert changed.json()["value"] == "7000" and changed.json()["source"] == "Database"
    assert server.services.settings.get("eventing.timeout.millis") == "7000"
    got = await corral("settings", "get", "eventing.timeout.millis")
    assert got.out.strip() == "7000"
    assert (await corral("settings", "get", "eventing.timeout.millis", "--json")
            ).json()["source"] == "Database"
    table = await corral("settings", "ls", "eventing")
    assert "eventing.timeout.millis" in table.out and "7000" in table.out
    assert "Database" in table.out and "api.url" not in table.out
    bad = await corral("settings", "set", "eventing.timeout.millis", "soon")
    assert "needs an integer" in bad.one_error_line()


async def test_apikey_create_ls_rm(server: RunningServer, corral: Corral,
                                   cli_env: dict[str, str]) -> None:
    created = await corral("apikey", "create", "--name", "ci", "--json")
    assert created.code == 0, created.err
    key = created.json()
    assert key["name"] == "ci" and len(key["publicValue"]) == 20 and len(key["secretValue"]) == 40
    as_new_key = cli_env | {"CATTLE_ACCESS_KEY": key["publicValue"],
                            "CATTLE_SECRET_KEY": key["secretValue"]}
    assert (await corral("host", "ls", "--json", env=as_new_key)).code == 0

    listed = (await corral("apikey", "ls", "--json")).json()
    assert key["id"] in [k["id"] for k in listed]
    assert all(k["secretValue"] is None for k in listed)
    table = (await corral("apikey", "ls")).out
    assert key["publicValue"] in table and "ci" in table and key["secretValue"] not in table

    removed = await corral("apikey", "rm", key["id"], "--json")
    assert removed.json()[0]["state"] == "removed"
    assert key["id"] not in [k["id"] for k in (await corral("apikey", "ls", "--json")).json()]
    assert key["id"] in [k["id"] for k in (await corral("apikey", "ls", "--all", "--json")
                                           ).json()]
    refused = await corral("host", "ls", env=as_new_key)
    assert "bad access/secret key" in refused.one_error_line()

    human = await corral("apikey", "create")
    assert human.code == 0 and "CATTLE_ACCESS_KEY=" in human.out
    assert "CATTLE_SECRET_KEY=" in human.out and "shown only now" in human.err


async def test_token_create_prints_the_agent_command(server: RunningServer,
                                                     corral: Corral) -> None:
    as_json = await corral("token", "create", "--json")
    token = as_json.json()
    assert token["type"] == "registrationToken"
    assert token["command"] == f"corral agent --url {server.url} --token {token['token']}"
    human = await corral("token", "create")
    assert human.code == 0
    assert human.out.startswith(f"corral agent --url {server.url} --token ")
    assert human.out.strip() != token["command"]


async def test_host_ls_shows_registered_hosts(server: RunningServer, corral: Corral) -> None:
    assert (await corral("host", "ls", "--json")).json() == []
    async with httpx.AsyncClient(base_url=server.url) as http:
        token = (await http.post("/v1/registrationtokens", json={},
                                 auth=server.admin_auth)).json()["token"]
        r = await http.post("/v1/register", json={"token": token, "hostname": "cli-node"})
        assert r.status_code == 201, r.text
    hosts = (await corral("host", "ls", "--json")).json()
    assert [h["name"] for h in hosts] == ["cli-node"]
    table = (await corral("host", "ls")).out
    assert "cli-node" in table and hosts[0]["id"] in table and hosts[0]["agentId"] in table
