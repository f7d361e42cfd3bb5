"""``corral.client`` over ``httpx.MockTransport``: URLs, paging, error mapping, waiting, config."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral import errors
from corral.client import (
    ApiError,
    AsyncClient,
    Client,
    ClientConfig,
    ConfigError,
    ConnectionFailed,
    TransitioningError,
    WaitTimeout,
    api_base,
    resolve,
    save,
)

BASE = "http://corral.test:8080"
KEYS = ("AK", "SK")


def sync_client(handler: Callable[[httpx.Request], httpx.Response], url: str = BASE) -> Client:
    return Client(url, *KEYS, transport=httpx.MockTransport(handler))


def async_client(handler: Callable[[httpx.Request], httpx.Response],
                 url: str = BASE) -> AsyncClient:
    return AsyncClient(url, *KEYS, transport=httpx.MockTransport(handler))


def error(status: int, code: str, message: str, field: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"type": "error", "status": status, "code": code, "message": message}
    if field:
        body["fieldName"] = field
    return httpx.Response(status, json=body)


def paged(total: int, size: int) -> tuple[Callable[[httpx.Request], httpx.Response],
                                          list[httpx.Request]]:
    """A /v1/hosts of ``total`` items served ``size`` per page, with ``pagination.next``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/v1/hosts"
        start = int(request.url.params.get("marker", "m0")[1:])
        data = [{"id": f"1h{i}", "type": "host"} for i in range(start, min(start + size, total))]
        pagination: dict[str, Any] = {"limit": size, "partial": start + size < total}
        if start + size < total:
            # the server keeps the filters in the next link; the client must not add them again
            pagination["next"] = f"{BASE}/v1/hosts?state=active&marker=m{start + size}"
        return httpx.Response(200, json={"type": "collection", "resourceType": "host",
                                         "pagination": pagination, "data": data})
    return handler, seen


def test_the_base_url_takes_a_server_address_or_an_api_root() -> None:
    assert api_base("http://h:8080") == "http://h:8080/v1"
    assert api_base("http://h:8080/") == "http://h:8080/v1"
    assert api_base("http://h:8080/v1/") == "http://h:8080/v1"
    assert api_base("https://h/v1/projects/1a5") == "https://h/v1/projects/1a5"
    assert api_base("http://h:8080/corral") == "http://h:8080/corral/v1"
    for bad in ("h:8080", "ftp://h/v1", "not a url", ""):
        with pytest.raises(ConfigError, match="--url"):
            api_base(bad)


def test_list_follows_pagination_next_and_sends_filters_and_basic_auth() -> None:
    handler, seen = paged(total=7, size=3)
    with sync_client(handler) as c:
        items = c.list("hosts", state="active", limit=3)
    assert [i["id"] for i in items] == [f"1h{i}" for i in range(7)]
    assert len(seen) == 3
    assert seen[0].url.params.get("state") == "active" and seen[0].url.params.get("limit") == "3"
    assert [r.url.params.get_list("state") for r in seen[1:]] == [["active"], ["active"]]
    expected = "Basic " + base64.b64encode(b"AK:SK").decode()
    assert {r.headers["authorization"] for r in seen} == {expected}


def test_list_stops_at_max_items_without_fetching_more_pages() -> None:
    handler, seen = paged(total=50, size=5)
    with sync_client(handler) as c:
        assert [i["id"] for i in c.list("hosts", max_items=7)] == [f"1h{i}" for i in range(7)]
    assert len(seen) == 2


async def test_the_async_client_pages_the_same_way() -> None:
    handler, seen = paged(total=5, size=2)
    async with async_client(handler) as c:
        items = await c.list("hosts")
    assert len(items) == 5 and len(seen) == 3


def test_a_server_error_becomes_one_api_error_with_its_fields() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error(422, "MaxLengthExceeded", "name is too long", "name")

    with sync_client(handler) as c, pytest.raises(ApiError) as info:
        c.create("instances", name="x" * 300)
    e = info.value
    assert (e.status, e.code, e.message, e.field_name) == (422, "MaxLengthExceeded",
                                                           "name is too long", "name")
    assert isinstance(e, errors.ApiError)
    assert str(e) == "name is too long (422 MaxLengthExceeded, field name)"


def test_401_says_the_key_is_bad_and_what_to_do() -> None:
    with sync_client(lambda r: error(401, "Unauthorized", "bad credentials")) as c, \
            pytest.raises(ApiError) as info:
        c.list("hosts")
    text = str(info.value)
    assert info.value.status == 401
    assert "bad access/secret key" in text and "CATTLE_ACCESS_KEY" in text
    assert "corral login" in text


def test_404_of_a_collection_means_a_wrong_url_but_404_of_a_resource_does_not() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/hosts"):
            return error(404, "NotFound", "Not Found")
        return error(404, "NotFound", "instance '1i9' not found", "id")

    with sync_client(handler) as c:
        with pytest.raises(ApiError) as wrong:
            c.list("hosts")
        with pytest.raises(ApiError) as missing:
            c.get("instances", "1i9")
    assert wrong.value.wrong_url and "no corral API at" in str(wrong.value)
    assert "--url" in str(wrong.value)
    assert not missing.value.wrong_url
    assert str(missing.value) == "instance '1i9' not found (404 NotFound, field id)"


def test_an_answer_that_is_not_json_points_at_the_url() -> None:
    with sync_client(lambda r: httpx.Response(200, text="<html>hello</html>")) as c, \
            pytest.raises(ApiError) as info:
        c.root()
    assert info.value.code == "InvalidResponse" and "--url" in str(info.value)


def test_a_refused_connection_says_whether_the_server_runs_and_which_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with sync_client(refuse) as c, pytest.raises(ConnectionFailed) as info:
        c.list("hosts")
    text = str(info.value)
    assert "connection refused" in text and f"is the server running at {BASE}" in text
    assert "CATTLE_URL" in text and "\n" not in text


async def test_the_async_client_maps_connection_errors_too() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with async_client(timeout) as c:
        with pytest.raises(ConnectionFailed, match="no answer in time"):
            await c.get("hosts", "1h1")


def test_actions_updates_and_deletes_use_the_cattle_verbs() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, str(request.url), body))
        return httpx.Response(200, json={"id": "1i1", "type": "instance"})

    with sync_client(handler, url=f"{BASE}/v1/") as c:
        c.action("instances", "1i1", "stop", timeout=5)
        c.update("instances", "1i1", name="web")
        c.delete("instances", "1i1")
        c.set_setting("api.url", "http://x")
    assert seen == [
        ("POST", f"{BASE}/v1/instances/1i1?action=stop", {"timeout": 5}),
        ("PUT", f"{BASE}/v1/instances/1i1", {"name": "web"}),
        ("DELETE", f"{BASE}/v1/instances/1i1", None),
        ("PUT", f"{BASE}/v1/settings/api.url", {"value": "http://x"}),
    ]


def _transitions(*states: str) -> Callable[[httpx.Request], httpx.Response]:
    answers = iter(states)

    def handler(request: httpx.Request) -> httpx.Response:
        t = next(answers)
        return httpx.Response(200, json={
            "id": "1i1", "type": "instance", "state": "starting" if t != "no" else "running",
            "transitioning": t, "transitioningMessage": "boom" if t == "error" else None,
            "links": {"self": f"{BASE}/v1/instances/1i1"}})
    return handler


START = {"id": "1i1", "type": "instance", "state": "stopped", "transitioning": "yes",
         "links": {"self": f"{BASE}/v1/instances/1i1"}}


def test_wait_transitioning_polls_until_the_process_is_done() -> None:
    updates: list[str] = []
    with sync_client(_transitions("yes", "yes", "no")) as c:
        done = c.wait_transitioning(START, timeout=5, interval=0.01,
                                    on_update=lambda r: updates.append(r["transitioning"]))
    assert done["state"] == "running" and done["transitioning"] == "no"
    assert updates == ["yes", "yes", "yes", "no"]


async def test_wait_transitioning_returns_an_error_and_raises_it_only_when_asked() -> None:
    async with async_client(_transitions("yes", "error")) as c:
        shown = await c.wait_transitioning(START, timeout=5, interval=0.01)
    assert shown["transitioning"] == "error"
    async with async_client(_transitions("error")) as c:
        with pytest.raises(TransitioningError, match="instance 1i1 failed while starting: boom"):
            await c.wait_transitioning(START, timeout=5, interval=0.01, raise_on_error=True)


def test_wait_transitioning_gives_up_after_its_timeout() -> None:
    with sync_client(_transitions(*["yes"] * 1000)) as c, pytest.raises(WaitTimeout) as info:
        c.wait_transitioning(START, timeout=0.05, interval=0.01)
    assert info.value.resource is not None and "still" in str(info.value)


def test_configuration_comes_from_arguments_then_environment_then_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "nested" / "config.json"
    written = save(ClientConfig("http://saved:1", "FILE_AK", "FILE_SK"), path)
    assert written == path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    env = {"CORRAL_CONFIG": str(path)}
    assert resolve(env=env) == ClientConfig("http://saved:1", "FILE_AK", "FILE_SK")
    env |= {"CATTLE_URL": "http://env:2", "CATTLE_ACCESS_KEY": "ENV_AK"}
    assert resolve(env=env) == ClientConfig("http://env:2", "ENV_AK", "FILE_SK")
    assert resolve("http://arg:3", None, "ARG_SK", env=env) == \
        ClientConfig("http://arg:3", "ENV_AK", "ARG_SK")


def test_missing_or_broken_configuration_says_what_to_do(tmp_path: Path) -> None:
    env = {"CORRAL_CONFIG": str(tmp_path / "none.json")}
    with pytest.raises(ConfigError, match="no server URL: pass --url, set CATTLE_URL"):
        resolve(env=env)
    with pytest.raises(ConfigError, match="no access key"):
        resolve("http://h:1", env=env)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="corral login"):
        resolve(env={"CORRAL_CONFIG": str(broken)})
    with pytest.raises(ConfigError, match="not an http"):
        Client("localhost:8080", *KEYS)


def test_a_collection_this_server_does_not_serve_is_named_not_blamed_on_the_url() -> None:
    with sync_client(lambda r: error(404, "NotFound", "no such path: /v1/processexecutions")) \
            as c, pytest.raises(ApiError) as info:
        c.list("processexecutions")
    assert not info.value.wrong_url
    assert str(info.value) == ("no such path: /v1/processexecutions (404 NotFound): this key "
                               "may not see it, or the URL is wrong")
