"""Settings: defaults, live changes through PUT, persistence, and who may see or change them."""

from __future__ import annotations

import httpx

from corral.server.app import CorralServer, ServerConfig
from tests.conftest import RunningServer


async def test_defaults_include_the_purge_settings(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v1/settings", params={"limit": "1000"})).json()
    settings = {s["name"]: s for s in body["data"]}
    assert settings["events.purge.after.seconds"]["value"] == "1209600"
    assert settings["process_instance.purge.after.seconds"]["activeValue"] == "86400"
    one = settings["events.purge.after.seconds"]
    assert one["type"] == "activeSetting" and one["source"] == "Default" and one["inDb"] is False
    assert one["id"] == "events.purge.after.seconds"


async def test_put_takes_effect_at_once_and_survives_a_restart(
        server: RunningServer, api: httpx.AsyncClient, db_target: tuple, tmp_path) -> None:
    seen: list[tuple[str, str]] = []
    server.services.settings.on_change(lambda n, v: seen.append((n, v)))
    r = await api.put("/v1/settings/events.purge.after.seconds", json={"value": "60"})
    assert r.status_code == 200
    assert r.json()["value"] == "60" and r.json()["source"] == "Database"
    assert server.services.settings.get_int("events.purge.after.seconds") == 60
    assert seen == [("events.purge.after.seconds", "60")]
    got = (await api.get("/v1/settings/events.purge.after.seconds")).json()
    assert got["activeValue"] == "60" and got["inDb"] is True
    url, schema = db_target
    second = CorralServer(ServerConfig(port=0, data_dir=tmp_path / "data2", db_url=url,
                                       db_schema=schema))
    await second.start()
    try:
        assert second.services.settings.get("events.purge.after.seconds") == "60"
    finally:
        await second.stop()


async def test_bad_values_are_refused_and_the_old_value_kept(api: httpx.AsyncClient) -> None:
    for body, code in (({"value": "soon"}, "InvalidFormat"), ({"value": "-5"}, "MinLimitExceeded"),
                       ({}, "MissingRequired"), ({"value": None}, "NotNullable")):
        r = await api.put("/v1/settings/process_instance.purge.after.seconds", json=body)
        assert r.status_code == 422, body
        assert r.json()["code"] == code and r.json()["fieldName"] == "value"
    got = (await api.get("/v1/settings/process_instance.purge.after.seconds")).json()
    assert got["value"] == "86400"
    r = await api.get("/v1/settings/no.such.setting")
    assert r.status_code == 404


async def test_non_admin_keys_see_public_settings_only_and_cannot_change_them(
        server: RunningServer, api: httpx.AsyncClient) -> None:
    project = (await api.get("/v1/projects")).json()["data"][0]
    pk = (await api.post(f"/v1/projects/{project['id']}/apikeys", json={})).json()
    async with server.client((pk["publicValue"], pk["secretValue"])) as mine:
        names = {s["name"] for s in (await mine.get("/v1/settings")).json()["data"]}
        assert "api.sub.ping.interval.millis" in names
        assert "events.purge.after.seconds" not in names
        r = await mine.get("/v1/settings/events.purge.after.seconds")
        assert r.status_code == 404
        r = await mine.put("/v1/settings/api.sub.ping.interval.millis", json={"value": "100"})
        assert r.status_code == 403
    assert server.services.settings.get("api.sub.ping.interval.millis") == "5000"


async def test_settings_filter_by_name(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v1/settings", params={"name_prefix": "events."})).json()
    assert [s["name"] for s in body["data"]] == ["events.purge.after.seconds"]
