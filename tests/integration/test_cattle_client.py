"""The unmodified Python client (PyPI ``cattle`` + ``gdapi-python``) against a real server.

The client is synchronous (requests) while the ``server`` fixture runs in the test's event
loop, so every client scenario runs in a worker thread (``asyncio.to_thread``) and the loop
stays free to answer it. Runs on SQLite and PostgreSQL (the ``server`` fixture is
parametrized by ``backend``).
"""

from __future__ import annotations

import asyncio

import cattle
import gdapi
import pytest
import requests

from tests.conftest import RunningServer


def _admin(server: RunningServer, url: str | None = None) -> cattle.Client:
    access, secret = server.admin_auth
    return cattle.Client(url=url or f"{server.url}/v1", access_key=access, secret_key=secret)


def _names(collection: object) -> set[str]:
    return {k.name for k in collection.data}  # type: ignore[attr-defined]


async def test_client_loads_the_schemas_and_manages_api_keys(server: RunningServer) -> None:
    def scenario() -> None:
        client = _admin(server)
        types = client.schema.types
        assert {"apikey", "project", "setting", "account"} <= set(types)
        assert types["apikey"].links.collection == f"{server.url}/v1/apikeys"
        for method in ("list_apikey", "create_apikey", "by_id_apikey", "update_by_id_apikey",
                       "list_project", "by_id_setting", "update_by_id_setting"):
            assert callable(getattr(client, method)), method

        created = [client.create_apikey(name=f"bench-{i}", description="made by cattle")
                   for i in range(3)]
        other = client.create_apikey(name="other")
        for key in created:
            assert key.type == "apikey" and key.state == "active"
            assert len(key.publicValue) == 20 and len(key.secretValue) == 40

        everything = client.list_apikey()
        assert everything.type == "collection" and everything.resourceType == "apikey"
        assert {"bench-0", "bench-1", "bench-2", "other"} <= _names(everything)
        assert all(k.secretValue is None for k in everything.data)

        assert [k.id for k in client.list_apikey(name="bench-1").data] == [created[1].id]
        assert _names(client.list_apikey(name_prefix="bench-")) == {"bench-0", "bench-1",
                                                                    "bench-2"}
        assert "other" not in _names(client.list_apikey(name_ne="other"))
        assert _names(client.list_apikey(name_like="%ther")) == {"other"}
        assert client.list_apikey(name="no-such-key").data == []

        # Paging: the collection's `next` link (bound by gdapi as a method) gives the rest.
        first = client.list_apikey(name_prefix="bench-", limit=2)
        assert len(first.data) == 2 and first.pagination.partial is True
        rest = first.next()
        assert [k.name for k in first.data] + [k.name for k in rest.data] == [
            "bench-0", "bench-1", "bench-2"]

        again = client.by_id_apikey(created[0].id)
        assert again.id == created[0].id and again.publicValue == created[0].publicValue
        assert again.secretValue is None
        assert client.by_id_apikey("1c999999") is None
        assert client.by_id_apikey("not-an-id") is None

        # The new key is a working credential for another client.
        mine = cattle.Client(url=f"{server.url}/v1", access_key=created[0].publicValue,
                             secret_key=created[0].secretValue)
        assert "apikey" in mine.schema.types

        # Actions are bound on the object from its `actions` links.
        assert callable(again.deactivate) and not hasattr(again.actions, "activate")
        deactivated = client.wait_success(again.deactivate())
        assert deactivated.state == "inactive" and deactivated.transitioning == "no"
        assert hasattr(deactivated.actions, "activate")
        assert client.by_id_apikey(again.id).state == "inactive"
        with pytest.raises(gdapi.ApiError) as refused:
            cattle.Client(url=f"{server.url}/v1", access_key=created[0].publicValue,
                          secret_key=created[0].secretValue)
        assert refused.value.error.status == 401
        assert client.wait_success(deactivated.activate()).state == "active"

        updated = client.update_by_id_apikey(created[2].id, description="renamed", name="b2")
        assert updated.name == "b2" and updated.description == "renamed"
        assert client.by_id_apikey(created[2].id).name == "b2"

        removed = client.delete(other)
        assert removed.state == "removed" and removed.removed is not None
        assert client.wait_success(client.reload(removed)).state == "removed"
        # Date filters take the ISO-8601 form the API renders (or epoch milliseconds).
        assert _names(client.list_apikey(removed_gte=removed.removed)) == {"other"}
        assert _names(client.list_apikey(removed_lt=removed.removed)) == set()
        assert _names(client.list_apikey(removed_notnull="")) == {"other"}
        assert "other" not in _names(client.list_apikey(removed_null=""))
        with pytest.raises(gdapi.ApiError) as bad_date:
            client.list_apikey(removed_gt="yesterday")
        assert bad_date.value.error.status == 422
        assert bad_date.value.error.code == "InvalidFormat"
        with pytest.raises(gdapi.ApiError) as gone:
            cattle.Client(url=f"{server.url}/v1", access_key=other.publicValue,
                          secret_key=other.secretValue)
        assert gone.value.error.status == 401

    await asyncio.to_thread(scenario)


async def test_settings_change_through_the_client_takes_effect_at_once(
        server: RunningServer) -> None:
    name = "events.purge.after.seconds"
    assert server.services.settings.get_int(name) == 1209600

    def scenario() -> None:
        client = _admin(server)
        before = client.by_id_setting(name)
        assert before.value == "1209600" and before.source == "Default"
        changed = client.update_by_id_setting(name, value="100")
        assert changed.value == "100" and changed.activeValue == "100"
        shown = client.by_id_setting(name)
        assert shown.value == "100" and shown.source == "Database" and shown.inDb is True
        assert name in {s.name for s in client.list_setting(name_prefix="events.").data}
        assert client.by_id_setting("no.such.setting") is None
        with pytest.raises(gdapi.ApiError) as bad:
            client.update_by_id_setting(name, value="soon")
        assert bad.value.error.status == 422 and bad.value.error.fieldName == "value"

    await asyncio.to_thread(scenario)
    assert server.services.settings.get_int(name) == 100
    assert server.services.settings.get_seconds(name) == 100.0


async def test_a_client_on_a_project_url_works_inside_that_project(
        server: RunningServer) -> None:
    def scenario() -> None:
        admin = _admin(server)
        default = admin.list_project(name="Default").data[0]
        other = admin.create_project(name="other")
        admin.create_apikey(name="admin-own")

        # The project resource is also that project's API root for clients.
        r = requests.get(default.links.self, auth=server.admin_auth, timeout=10)
        assert r.status_code == 200
        assert r.headers["X-API-Schemas"] == f"{server.url}/v1/projects/{default.id}/schemas"

        inside = _admin(server, url=default.links.self)
        assert inside.schema.types["apikey"].links.collection == (
            f"{server.url}/v1/projects/{default.id}/apikeys")
        pk = inside.create_apikey(name="project-key")
        assert pk.accountId == default.id
        assert pk.links.self.startswith(f"{server.url}/v1/projects/{default.id}/apikeys/")
        assert _names(inside.list_apikey()) == {"project-key"}
        assert inside.by_id_apikey(pk.id).name == "project-key"

        in_other = _admin(server, url=other.links.self)
        in_other.create_apikey(name="other-key")
        assert _names(in_other.list_apikey()) == {"other-key"}
        assert in_other.by_id_apikey(pk.id) is None

        # A client made with the project key sees only its own project's keys.
        mine = cattle.Client(url=f"{server.url}/v1", access_key=pk.publicValue,
                             secret_key=pk.secretValue)
        assert "account" not in mine.schema.types
        assert _names(mine.list_apikey()) == {"project-key"}
        assert [p.id for p in mine.list_project().data] == [default.id]
        made = mine.create_apikey(name="made-by-project-key")
        assert made.accountId == default.id
        assert _names(mine.list_apikey()) == {"project-key", "made-by-project-key"}
        with pytest.raises(gdapi.ApiError) as forbidden:
            mine.create_project(name="mine")
        assert forbidden.value.error.status == 403
        assert forbidden.value.error.code == "Forbidden"

        # The admin still sees every key.
        assert {"admin-own", "project-key", "other-key", "made-by-project-key"} <= _names(
            admin.list_apikey())

    await asyncio.to_thread(scenario)


async def test_the_client_raises_api_errors_with_the_cattle_error_code(
        server: RunningServer) -> None:
    def scenario() -> None:
        client = _admin(server)
        with pytest.raises(gdapi.ApiError) as too_long:
            client.create_apikey(name="x" * 256)
        error = too_long.value.error
        assert error.type == "error" and error.status == 422
        assert error.code == "MaxLengthExceeded" and error.fieldName == "name"

        with pytest.raises(gdapi.ApiError) as unknown:
            client.create_apikey(name="ok", color="blue")
        assert unknown.value.error.code == "InvalidOption"
        assert unknown.value.error.fieldName == "color"

        key = client.create_apikey(name="once")
        with pytest.raises(gdapi.ApiError) as wrong_state:
            client.action(key, "deactivate")
            client.action(key, "deactivate")
        assert wrong_state.value.error.code == "ActionNotAvailable"

        with pytest.raises(gdapi.ApiError) as no_auth:
            cattle.Client(url=f"{server.url}/v1", access_key="nobody",
                          secret_key="wrong-secret")
        assert no_auth.value.error.status == 401
        assert no_auth.value.error.code == "Unauthorized"
        assert _names(client.list_apikey(name="x" * 256)) == set()

    await asyncio.to_thread(scenario)
