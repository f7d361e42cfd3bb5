"""First start: the admin account, the ``Default`` project and the admin API key.

With ``CORRAL_ADMIN_ACCESS_KEY`` / ``CORRAL_ADMIN_SECRET_KEY`` set, that pair is the
admin key. Otherwise a key is generated once, printed once and written to
``<data-dir>/admin-key`` (mode 0600). Restarting never creates a second one.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from corral.errors import CorralError
from corral.resources.credentials import new_access_key, new_secret_key
from corral.server.auth import hash_secret, verify_secret
from corral.store import Store, tables
from corral.store.db import now_millis

log = logging.getLogger(__name__)

_ACCESS_RE = re.compile(r"^[A-Za-z0-9]{8,64}$")


@dataclass(slots=True)
class AdminKey:
    access_key: str
    secret_key: str | None  # None when it was made earlier and is not known any more
    created: bool


def _row(kind: str, name: str, state: str = "active", **extra: object) -> dict[str, object]:
    return {"uuid": str(uuid.uuid4()), "kind": kind, "name": name, "state": state,
            "created": now_millis(), "transitioning": "no", "data": {}, **extra}


async def bootstrap(store: Store, *, data_dir: Path | None) -> AdminKey:
    env_access = os.environ.get("CORRAL_ADMIN_ACCESS_KEY")
    env_secret = os.environ.get("CORRAL_ADMIN_SECRET_KEY")
    if bool(env_access) != bool(env_secret):
        raise CorralError("set both CORRAL_ADMIN_ACCESS_KEY and CORRAL_ADMIN_SECRET_KEY, or neither")
    if env_access and not _ACCESS_RE.match(env_access):
        raise CorralError("CORRAL_ADMIN_ACCESS_KEY must be 8-64 letters or digits")
    a, c = tables.account, tables.credential
    async with store.tx() as conn:
        admin = (await conn.execute(sa.select(a.c.id).where(a.c.kind == "admin")
                                    .order_by(a.c.id).limit(1))).first()
        if admin is None:
            admin_id = (await conn.execute(
                sa.insert(a).values(**_row("admin", "admin")).returning(a.c.id))).scalar_one()
            await conn.execute(sa.insert(a).values(**_row("project", "Default")))
            log.info("created the admin account and the Default project")
        else:
            admin_id = admin.id
        if env_access and env_secret:
            existing = (await conn.execute(
                sa.select(c.c.id, c.c.secret_value, c.c.account_id)
                .where(c.c.public_value == env_access))).first()
            if existing is None:
                await conn.execute(sa.insert(c).values(
                    **_row("apiKey", "admin (from environment)"), account_id=admin_id,
                    public_value=env_access, secret_value=hash_secret(env_secret)))
                return AdminKey(env_access, env_secret, created=True)
            if existing.account_id != admin_id:
                raise CorralError("CORRAL_ADMIN_ACCESS_KEY belongs to a non-admin key")
            if not verify_secret(env_secret, existing.secret_value):
                await conn.execute(sa.update(c).where(c.c.id == existing.id).values(
                    secret_value=hash_secret(env_secret), state="active"))
            return AdminKey(env_access, env_secret, created=False)
        key = (await conn.execute(
            sa.select(c.c.public_value).where(c.c.account_id == admin_id, c.c.kind == "apiKey")
            .order_by(c.c.id).limit(1))).first()
        if key is not None:
            return AdminKey(key.public_value, None, created=False)
        access, secret = new_access_key(), new_secret_key()
        await conn.execute(sa.insert(c).values(
            **_row("apiKey", "admin"), account_id=admin_id, public_value=access,
            secret_value=hash_secret(secret)))
    if data_dir is not None:
        write_key_file(Path(data_dir) / "admin-key", access, secret)
    return AdminKey(access, secret, created=True)


def write_key_file(path: Path, access: str, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"CATTLE_ACCESS_KEY={access}\nCATTLE_SECRET_KEY={secret}\n")
    os.chmod(path, 0o600)
