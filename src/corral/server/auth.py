"""HTTP Basic authentication with access/secret keys, with a short cache of verified keys.

Secrets are stored as salted PBKDF2-SHA256 hashes. Checking one costs tens of
milliseconds on purpose, so a key verified once is trusted for
``api.auth.cache.seconds`` (compared by a fast SHA-256 of the presented secret); the
entry is dropped as soon as the key or its account is deactivated or removed. One key and
secret are checked once at a time: requests that arrive while their check runs (a key's
entry has just expired under load, say) wait for that check instead of each starting
their own hash on the server's CPU.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from corral.api.context import Principal
from corral.errors import Unauthorized
from corral.singleflight import SingleFlight
from corral.store import tables

if TYPE_CHECKING:
    from corral.store import Store

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 120_000
KEY_KINDS = ("apiKey", "agentApiKey")
_NEGATIVE_TTL = 5.0


def hash_secret(secret: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    return "pbkdf2_sha256${}${}${}".format(
        iterations, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def verify_secret(secret: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        algo, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "pbkdf2_sha256":
        return False
    computed = hashlib.pbkdf2_hmac("sha256", secret.encode(), base64.b64decode(salt),
                                   int(iterations))
    return hmac.compare_digest(computed, base64.b64decode(digest))


async def hash_secret_off_loop(secret: str) -> str:
    """``hash_secret`` in a worker thread: the hash is slow on purpose, the loop must not wait."""
    return await asyncio.to_thread(hash_secret, secret)


def parse_basic(header: str | None) -> tuple[str, str]:
    """(access key, secret) from an ``Authorization: Basic …`` header; Unauthorized otherwise."""
    if not header:
        raise Unauthorized("credentials required: HTTP Basic with an access key and secret key")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized("only HTTP Basic authentication is supported")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    access, sep, secret = decoded.partition(":")
    if not sep or not access or not secret:
        raise Unauthorized("malformed Basic credentials")
    return access, secret


@dataclass(slots=True)
class _Entry:
    fingerprint: bytes
    principal: Principal
    expires: float


def _fingerprint(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class Authenticator:
    def __init__(self, store: Store, *, cache_seconds: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, _Entry] = {}
        # access key -> (fingerprint of the last wrong secret, until when it is refused unchecked)
        self._rejected: dict[str, tuple[bytes, float]] = {}
        # one check per (access key, fingerprint) at a time, shared by whoever asks meanwhile;
        # forgotten on a revocation: a check that started before it caches nothing, and
        # requests arriving after it start a check of their own
        self._checks: SingleFlight[Principal | None] = SingleFlight()
        self.hash_checks = 0  # how many slow checks ran (observable in tests)

    async def authenticate(self, header: str | None) -> Principal:
        access, secret = parse_basic(header)
        fp = _fingerprint(secret)
        now = self.clock()
        entry = self._cache.get(access)
        if entry is not None and entry.expires > now and hmac.compare_digest(entry.fingerprint, fp):
            return entry.principal
        rejected = self._rejected.get(access)
        if rejected is not None and rejected[1] > now and rejected[0] == fp:
            raise Unauthorized("invalid access key or secret key")
        principal = await self._checks.run((access, fp), lambda: self._check(access, secret, fp))
        if principal is None:
            raise Unauthorized("invalid access key or secret key")
        return principal

    async def _check(self, access: str, secret: str, fp: bytes) -> Principal | None:
        generation = self._checks.generation
        principal = await self._verify(access, secret)
        if generation != self._checks.generation:  # a key was revoked meanwhile: keep nothing
            return principal
        now = self.clock()
        if principal is None:
            if len(self._rejected) > 10_000:
                self._rejected.clear()
            self._rejected[access] = (fp, now + _NEGATIVE_TTL)
        else:
            self._cache[access] = _Entry(fp, principal, now + self.cache_seconds())
        return principal

    async def _verify(self, access: str, secret: str) -> Principal | None:
        c, a = tables.credential, tables.account
        stmt = (
            sa.select(c.c.id, c.c.secret_value, c.c.data, a.c.id.label("account_id"),
                      a.c.kind.label("account_kind"), a.c.data.label("account_data"))
            .join(a, a.c.id == c.c.account_id)
            .where(c.c.public_value == access, c.c.kind.in_(KEY_KINDS), c.c.state == "active",
                   a.c.state == "active")
        )
        row = await self.store.fetch_one(stmt)
        self.hash_checks += 1
        if row is None or not await asyncio.to_thread(verify_secret, secret, row.secret_value):
            return None
        project_id: int | None
        agent_id: int | None = None
        if row.account_kind == "project":
            project_id = row.account_id
        elif row.account_kind in ("admin", "service"):
            project_id = None
        else:  # user and agent accounts act inside the project recorded on the account
            acct = row.account_data or {}
            project_id = acct.get("projectId")
            agent_id = acct.get("agentId")
        return Principal(credential_id=row.id, account_id=row.account_id,
                         account_kind=row.account_kind, project_id=project_id, agent_id=agent_id)

    def forget_key(self, access_key: str | None) -> None:
        self._checks.forget()
        if access_key is not None:
            self._cache.pop(access_key, None)
            self._rejected.pop(access_key, None)

    def forget_account(self, account_id: int) -> None:
        self._checks.forget()
        for key in [k for k, e in self._cache.items()
                    if e.principal.account_id == account_id
                    or e.principal.project_id == account_id]:
            del self._cache[key]
        self._rejected.clear()
