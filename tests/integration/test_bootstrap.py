"""First start: one admin account, one Default project, one admin key, never twice."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from corral.server.auth import verify_secret
from corral.server.bootstrap import bootstrap
from corral.store import Store, tables


async def _counts(store: Store) -> tuple[int, int, int]:
    a, c = tables.account, tables.credential
    admins = await store.fetch_one(sa.select(sa.func.count()).where(a.c.kind == "admin"))
    projects = await store.fetch_one(sa.select(sa.func.count()).where(
        a.c.kind == "project", a.c.name == "Default"))
    keys = await store.fetch_one(sa.select(sa.func.count()).select_from(c))
    return int(admins[0]), int(projects[0]), int(keys[0])


async def test_first_start_creates_admin_project_and_key_file_and_restart_does_not(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_ADMIN_ACCESS_KEY", raising=False)
    monkeypatch.delenv("CORRAL_ADMIN_SECRET_KEY", raising=False)
    first = await bootstrap(store, data_dir=tmp_path)
    assert first.created and first.secret_key and len(first.access_key) == 20
    key_file = tmp_path / "admin-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"CATTLE_SECRET_KEY={first.secret_key}" in key_file.read_text()
    again = await bootstrap(store, data_dir=tmp_path)
    assert not again.created and again.access_key == first.access_key
    assert again.secret_key is None
    assert await _counts(store) == (1, 1, 1)


async def test_environment_pair_is_the_admin_key(store: Store, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_ADMIN_ACCESS_KEY", "ADMINKEY0001")
    monkeypatch.setenv("CORRAL_ADMIN_SECRET_KEY", "s3cret-from-env")
    key = await bootstrap(store, data_dir=tmp_path)
    assert key.access_key == "ADMINKEY0001"
    assert not (tmp_path / "admin-key").exists()
    await bootstrap(store, data_dir=tmp_path)
    c = tables.credential
    row = await store.fetch_one(sa.select(c.c.secret_value).where(
        c.c.public_value == "ADMINKEY0001"))
    assert verify_secret("s3cret-from-env", row.secret_value)
    assert await _counts(store) == (1, 1, 1)
