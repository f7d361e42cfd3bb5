"""Collections: filters with modifiers, sort, pagination with markers."""

from __future__ import annotations

import httpx


async def _make(api: httpx.AsyncClient, n: int) -> list[dict]:
    return [(await api.post("/v1/apikeys", json={"name": f"k{i:03d}"})).json() for i in range(n)]


async def test_pages_walk_the_whole_collection_exactly_once(api: httpx.AsyncClient) -> None:
    made = await _make(api, 23)
    seen: list[str] = []
    url: str | None = "/v1/apikeys?limit=5&name_prefix=k"
    pages = 0
    while url:
        body = (await api.get(url)).json()
        assert body["pagination"]["limit"] == 5
        seen += [k["id"] for k in body["data"]]
        url = body["pagination"].get("next")
        assert body["pagination"]["partial"] == (url is not None)
        pages += 1
    assert pages == 5
    assert seen == [k["id"] for k in made]


async def test_filters_and_modifiers(api: httpx.AsyncClient) -> None:
    await _make(api, 6)
    async def names(**params: str) -> list[str]:
        body = (await api.get("/v1/apikeys", params=params)).json()
        return [k["name"] for k in body["data"]]
    assert await names(name="k002") == ["k002"]
    assert await names(name_prefix="k00", name_ne="k003") == ["k000", "k001", "k002", "k004",
                                                             "k005"]
    assert await names(name_like="k00%", name_notlike="%5") == ["k000", "k001", "k002", "k003",
                                                               "k004"]
    assert await names(name_prefix="k", name_gte="k004") == ["k004", "k005"]
    assert "k000" in await names(description_null="")
    assert await names(description_notnull="") == []
    body = (await api.get("/v1/apikeys", params={"name_prefix": "k", "state": "active"})).json()
    assert body["filters"]["name"] == [{"modifier": "prefix", "value": "k"}]
    assert len(body["data"]) == 6


async def test_sort_and_order(api: httpx.AsyncClient) -> None:
    await _make(api, 4)
    body = (await api.get("/v1/apikeys", params={"name_prefix": "k", "sort": "name",
                                                 "order": "desc"})).json()
    assert [k["name"] for k in body["data"]] == ["k003", "k002", "k001", "k000"]
    assert body["sort"]["name"] == "name" and body["sort"]["order"] == "desc"
    reverse = (await api.get(body["sort"]["reverse"])).json()
    assert [k["name"] for k in reverse["data"]] == ["k000", "k001", "k002", "k003"]


async def test_a_removed_resource_stays_listed_as_removed(api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/apikeys", json={"name": "gone"})).json()
    await api.delete(f"/v1/apikeys/{key['id']}")
    body = (await api.get("/v1/apikeys", params={"name": "gone"})).json()
    assert [k["state"] for k in body["data"]] == ["removed"]
    body = (await api.get("/v1/apikeys", params={"name": "gone", "removed_null": ""})).json()
    assert body["data"] == []
