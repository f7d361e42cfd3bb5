"""Bad input gets a clear 4xx error JSON naming the field, and nothing is half-written."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from corral.store import tables
from tests.conftest import RunningServer


async def _count_keys(server: RunningServer) -> int:
    c = tables.credential
    row = await server.services.store.fetch_one(sa.select(sa.func.count()).select_from(c))
    return int(row[0])


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"nmae": "typo"}, 422, "InvalidOption", "nmae"),
    ({"name": 5}, 422, "InvalidFormat", "name"),
    ({"name": "x" * 256}, 422, "MaxLengthExceeded", "name"),
    ({"name": "a\x00b"}, 422, "InvalidCharacters", "name"),
    ({"description": ["list"]}, 422, "InvalidFormat", "description"),
    ({"state": "inactive"}, 422, "NotCreatable", "state"),
    ({"publicValue": "ABC"}, 422, "NotCreatable", "publicValue"),
    ({"accountId": "1a999999"}, 422, "InvalidReference", "accountId"),
    ({"accountId": 7}, 422, "InvalidFormat", "accountId"),
])
async def test_bad_fields_are_refused_with_the_field_named(
        server: RunningServer, api: httpx.AsyncClient, body: dict, status: int, code: str,
        field: str) -> None:
    before = await _count_keys(server)
    r = await api.post("/v1/apikeys", json=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["type"] == "error" and err["status"] == status
    assert err["code"] == code and err["fieldName"] == field
    assert err["message"]
    assert await _count_keys(server) == before


@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", b'"text"', b"\xff\xfe"])
async def test_malformed_bodies_get_400(server: RunningServer, api: httpx.AsyncClient,
                                        raw: bytes) -> None:
    before = await _count_keys(server)
    r = await api.post("/v1/apikeys", content=raw)
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidBodyContent"
    assert await _count_keys(server) == before


async def test_a_body_too_large_is_refused(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/apikeys", content=b'{"name": "' + b"x" * 2_000_000 + b'"}')
    assert r.status_code == 413 and r.json()["type"] == "error"


@pytest.mark.parametrize("wire_id", ["1c99999", "nonsense", "1a1", "0", "1c0", "1c" + "9" * 30])
async def test_unknown_or_malformed_ids_get_404(api: httpx.AsyncClient, wire_id: str) -> None:
    r = await api.get(f"/v1/apikeys/{wire_id}")
    assert r.status_code == 404
    assert r.json()["code"] == "NotFound"
    r = await api.put(f"/v1/apikeys/{wire_id}", json={"name": "x"})
    assert r.status_code == 404


@pytest.mark.parametrize(("params", "field"), [
    ({"name_bogus": "x"}, "name_bogus"),
    ({"nothere": "1"}, "nothere"),
    ({"limit": "zero"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "100000"}, "limit"),
    ({"marker": "garbage"}, "marker"),
    ({"sort": "secretValue"}, "sort"),
    ({"order": "sideways"}, "order"),
    ({"createdTS_gt": "1"}, "createdTS"),
])
async def test_bad_query_parameters_get_422_naming_them(api: httpx.AsyncClient, params: dict,
                                                        field: str) -> None:
    r = await api.get("/v1/apikeys", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["fieldName"] == field


async def test_update_checks_fields_too_and_changes_nothing_on_error(
        api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/apikeys", json={"name": "keep"})).json()
    r = await api.put(f"/v1/apikeys/{key['id']}", json={"name": "new", "publicValue": "X"})
    assert r.status_code == 422 and r.json()["fieldName"] == "publicValue"
    assert (await api.get(f"/v1/apikeys/{key['id']}")).json()["name"] == "keep"
    r = await api.put(f"/v1/apikeys/{key['id']}", json={"name": "new", "description": "d"})
    assert r.status_code == 200
    assert r.json()["name"] == "new" and r.json()["description"] == "d"
