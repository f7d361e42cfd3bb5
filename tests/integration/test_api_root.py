"""The API root, schemas, OpenAPI document and authentication."""

from __future__ import annotations

import httpx

from tests.conftest import RunningServer


async def test_ping_answers_pong_without_credentials(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.get("/ping")
    assert r.status_code == 200 and r.text == "pong"


async def test_root_links_every_collection_and_names_the_schemas(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "apiVersion"
    assert r.headers["X-API-Schemas"] == body["links"]["schemas"]
    for plural in ("projects", "apikeys", "settings", "accounts", "subscribe", "publish"):
        assert body["links"][plural].endswith(f"/v1/{plural}")


async def test_requests_without_or_with_wrong_credentials_get_401_error_json(
        server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.get("/v1/apikeys")
        assert r.status_code == 401
        assert r.json()["type"] == "error" and r.json()["code"] == "Unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        r = await c.get("/v1/apikeys", auth=(server.admin_auth[0], "wrong" * 8))
        assert r.status_code == 401
        r = await c.get("/v1/apikeys", headers={"Authorization": "Basic !!notbase64"})
        assert r.status_code == 401 and r.json()["code"] == "Unauthorized"


async def test_schemas_describe_fields_filters_and_actions(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/schemas")
    schemas = {s["id"]: s for s in r.json()["data"]}
    for name in ("project", "apikey", "setting", "activeSetting", "subscribe", "publish"):
        assert name in schemas
    key = schemas["apikey"]
    assert key["pluralName"] == "apikeys"
    assert key["links"]["collection"].endswith("/v1/apikeys")
    assert set(key["collectionMethods"]) == {"GET", "POST"}
    assert set(key["resourceMethods"]) == {"GET", "PUT", "DELETE"}
    assert key["resourceFields"]["name"]["maxLength"] == 255
    assert key["resourceFields"]["accountId"]["type"] == "reference[account]"
    assert "prefix" in key["collectionFilters"]["name"]["modifiers"]
    assert {"activate", "deactivate", "remove"} <= set(key["resourceActions"])
    assert schemas["subscribe"]["links"]["collection"].endswith("/v1/subscribe")
    one = (await api.get("/v1/schemas/apikey")).json()
    assert one["id"] == "apikey" and one["type"] == "schema"
    assert (await api.get("/v1/schemas/nothing")).status_code == 404


async def test_openapi_document_lists_the_collections(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/v1/apikeys"]
    assert "put" in doc["paths"]["/v1/settings/{id}"]
    params = {p["name"] for p in doc["paths"]["/v1/apikeys"]["get"]["parameters"]}
    assert {"limit", "marker", "name", "name_prefix"} <= params


async def test_unknown_paths_and_methods_get_error_json(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["type"] == "error"
    r = await api.delete("/v1/apikeys")
    assert r.status_code == 405 and r.json()["code"] == "MethodNotAllowed"
    r = await api.post("/v1")
    assert r.status_code == 405
