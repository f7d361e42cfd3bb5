"""Who receives what: agents, a project key and admin sockets over real WebSockets (§3, §9).

Every socket also subscribes to ``barrier``; publishing ``barrier`` under each socket's
qualified name after the events under test, and waiting until it arrives, proves that
everything published before it has been delivered (each socket is FIFO) without sleeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.conftest import RunningServer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def names_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events]


async def test_each_socket_gets_exactly_the_events_meant_for_it(
        server: RunningServer, api: httpx.AsyncClient, subscribe, publish, project_key) -> None:
    pk_auth, project = await project_key()
    other = (await api.post("/v1/projects", json={"name": "other"})).json()
    pid = int(project["id"].removeprefix("1a"))
    oid = int(other["id"].removeprefix("1a"))
    wanted = ("compute.instance.activate", "resource.change", "barrier")

    agent1 = await subscribe(*wanted, agent_id="1ag1", label="agent1")
    agent2 = await subscribe(*wanted, agent_id="1ag2", label="agent2")
    proj = await subscribe(*wanted, auth=pk_auth, label="project")
    proj_path = await subscribe(*wanted, auth=pk_auth, label="project via path",
                                path=f"/v1/projects/{project['id']}/subscribe")
    admin = await subscribe("resource.change", "compute.instance.activate;agent=1", "barrier",
                            label="admin raw")
    everything = await subscribe("*", label="admin *")

    for agent in (1, 2):
        r = await publish({"name": f"compute.instance.activate;agent={agent}",
                           "resourceType": "instance", "resourceId": f"1i{agent}",
                           "data": {"for": agent}})
        assert r.status_code == 201, r.text
        assert r.json()["name"] == f"compute.instance.activate;agent={agent}"
    mine = (await api.post(f"/v1/projects/{project['id']}/apikeys", json={"name": "mine"})).json()
    theirs = (await api.post(f"/v1/projects/{other['id']}/apikeys",
                             json={"name": "theirs"})).json()

    barriers = ["barrier;agent=1", "barrier;agent=2", f"barrier;account={pid}",
                f"barrier;account={oid}", "barrier"]
    for name in barriers:
        assert (await publish({"name": name, "data": {"to": name}})).status_code == 201
    sockets = (agent1, agent2, proj, proj_path, admin)
    for sock in sockets:
        await sock.wait_for(lambda s: bool(s.named("barrier")), "the barrier")
    # "*" gets each event once: not the per-project copies (";account=" names)
    unqualified_barriers = [b for b in barriers if ";account=" not in b]
    await everything.wait_for(lambda s: len(s.named("barrier")) == len(unqualified_barriers),
                              "every barrier")

    # Agents: only their own call, name stripped of its qualifier, data intact.
    for agent, sock in ((1, agent1), (2, agent2)):
        assert names_of(sock.events) == ["compute.instance.activate", "barrier"]
        got = sock.events[0]
        assert got["data"] == {"for": agent}
        assert (got["resourceType"], got["resourceId"]) == ("instance", f"1i{agent}")
        assert sock.events[1]["data"] == {"to": f"barrier;agent={agent}"}

    # The project key (either URL): one resource.change, for its own project's new key.
    for sock in (proj, proj_path):
        assert names_of(sock.events) == ["resource.change", "barrier"]
        change = sock.events[0]
        assert (change["resourceType"], change["resourceId"]) == ("apikey", mine["id"])
        assert change["data"]["resource"]["id"] == mine["id"]
        assert change["data"]["resource"]["accountId"] == project["id"]
        assert change["data"]["resource"]["secretValue"] is None
        assert all(e.get("resourceId") != theirs["id"] for e in sock.received)
        assert sock.events[1]["data"] == {"to": f"barrier;account={pid}"}

    # Admin raw, by name: both keys' changes (the admin view), agent 1's call as it asked.
    assert names_of(admin.events) == ["compute.instance.activate", "resource.change",
                                      "resource.change", "barrier"]
    assert admin.events[0]["data"] == {"for": 1}
    assert [e["resourceId"] for e in admin.named("resource.change")] == [mine["id"], theirs["id"]]
    assert [e["data"]["resource"]["accountId"] for e in admin.named("resource.change")] == [
        project["id"], other["id"]]
    assert admin.events[-1]["data"] == {"to": "barrier"}

    # Admin `*`: every event published once, every name stripped of its qualifiers; the
    # per-project copies of resource.change (";account=") are not delivered to it again.
    assert all(";" not in e["name"] for e in everything.received)
    calls = everything.named("compute.instance.activate")
    assert [c["data"] for c in calls] == [{"for": 1}, {"for": 2}]
    assert {e["resourceId"] for e in everything.named("resource.change")} == {mine["id"],
                                                                             theirs["id"]}
    assert sorted(e["data"]["to"] for e in everything.named("barrier")) == sorted(
        unqualified_barriers)
    assert len(everything.named("resource.change")) == 2

    # Nothing was delivered twice to a socket, and no request event carries reply-only fields.
    for sock in (*sockets, everything):
        ids = [e["id"] for e in sock.received]
        assert len(ids) == len(set(ids)), sock.label
        for e in sock.events:
            assert "previousIds" not in e and "transitioningProgress" not in e


async def test_an_unqualified_agent_event_reaches_no_agent(
        server: RunningServer, subscribe, publish) -> None:
    agent1 = await subscribe("compute.instance.activate", "barrier", agent_id="1ag1")
    assert (await publish({"name": "compute.instance.activate"})).status_code == 201
    assert (await publish({"name": "compute.instance.activate;agent=11"})).status_code == 201
    assert (await publish({"name": "barrier;agent=1"})).status_code == 201
    await agent1.wait_for(lambda s: bool(s.named("barrier")), "the barrier")
    assert names_of(agent1.events) == ["barrier"]


async def test_many_subscribers_of_one_agent_all_get_its_events(
        server: RunningServer, subscribe, publish) -> None:
    socks = await asyncio.gather(*(subscribe("compute.instance.activate", agent_id="1ag3")
                                   for _ in range(5)))
    for i in range(3):
        r = await publish({"name": "compute.instance.activate;agent=3", "data": {"i": i}})
        assert r.status_code == 201
    for sock in socks:
        await sock.wait_for(lambda s: len(s.events) == 3, "three events")
        assert [e["data"]["i"] for e in sock.events] == [0, 1, 2]


async def test_the_cattle_client_finds_the_subscribe_url(server: RunningServer) -> None:
    import cattle

    def discover() -> tuple[str, list[str]]:
        access, secret = server.admin_auth
        client = cattle.Client(url=f"{server.url}/v1", access_key=access, secret_key=secret)
        schema = client.schema.types["subscribe"]
        return schema.links.collection, list(schema.collectionMethods)

    url, methods = await asyncio.to_thread(discover)
    assert url.endswith("/v1/subscribe")
    assert url == f"{server.url}/v1/subscribe"
    assert "GET" in methods
