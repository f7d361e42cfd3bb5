"""The authenticator's cache and its one-check-at-a-time rule, against a counting fake store."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace

import pytest

from corral.errors import Unauthorized
from corral.server.auth import Authenticator, hash_secret


def _basic(access: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{access}:{secret}".encode()).decode()


class _Store:
    """One active admin key; each lookup can be held until the test lets it go."""

    def __init__(self, access: str, secret: str) -> None:
        self.access = access
        self.row = SimpleNamespace(id=7, secret_value=hash_secret(secret, iterations=1000),
                                   data={}, account_id=1, account_kind="admin",
                                   account_data={})
        self.lookups = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def fetch_one(self, stmt: object) -> SimpleNamespace | None:
        self.lookups += 1
        row = self.row  # what the database held when the query ran
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return row


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> _Store:
    return _Store("AK", "s3cret")


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def auth(store: _Store, clock: _Clock) -> Authenticator:
    return Authenticator(store, cache_seconds=lambda: 30.0, clock=clock)  # type: ignore[arg-type]


async def test_requests_arriving_during_a_check_share_it(auth: Authenticator,
                                                         store: _Store) -> None:
    store.gate.clear()
    waiting = [asyncio.create_task(auth.authenticate(_basic("AK", "s3cret"))) for _ in range(50)]
    await asyncio.sleep(0.01)
    assert store.lookups == 1
    store.gate.set()
    principals = await asyncio.gather(*waiting)
    assert {p.account_id for p in principals} == {1}
    assert auth.hash_checks == 1


async def test_an_expired_entry_under_load_is_checked_once(auth: Authenticator, store: _Store,
                                                           clock: _Clock) -> None:
    await auth.authenticate(_basic("AK", "s3cret"))
    clock.now += 31
    store.gate.clear()
    waiting = [asyncio.create_task(auth.authenticate(_basic("AK", "s3cret"))) for _ in range(20)]
    await asyncio.sleep(0.01)
    store.gate.set()
    await asyncio.gather(*waiting)
    assert auth.hash_checks == 2  # the first request's and one for all twenty after expiry
    await auth.authenticate(_basic("AK", "s3cret"))
    assert auth.hash_checks == 2


async def test_a_wrong_secret_does_not_ride_on_the_right_ones_check(auth: Authenticator,
                                                                    store: _Store) -> None:
    store.gate.clear()
    right = [asyncio.create_task(auth.authenticate(_basic("AK", "s3cret"))) for _ in range(5)]
    wrong = [asyncio.create_task(auth.authenticate(_basic("AK", "guess"))) for _ in range(5)]
    await asyncio.sleep(0.01)
    store.gate.set()
    results = await asyncio.gather(*right, *wrong, return_exceptions=True)
    assert all(r.account_id == 1 for r in results[:5])
    assert all(isinstance(r, Unauthorized) for r in results[5:])
    assert auth.hash_checks == 2


async def test_a_failing_check_fails_its_waiters_and_the_next_request_checks_again(
        auth: Authenticator, store: _Store) -> None:
    store.gate.clear()
    store.fail = RuntimeError("database went away")
    waiting = [asyncio.create_task(auth.authenticate(_basic("AK", "s3cret"))) for _ in range(3)]
    await asyncio.sleep(0.01)
    store.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    store.fail = None
    assert (await auth.authenticate(_basic("AK", "s3cret"))).account_id == 1
    assert store.lookups == 2


async def test_the_first_caller_going_away_does_not_cancel_the_others(auth: Authenticator,
                                                                       store: _Store) -> None:
    store.gate.clear()
    first = asyncio.create_task(auth.authenticate(_basic("AK", "s3cret")))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(auth.authenticate(_basic("AK", "s3cret")))
    await asyncio.sleep(0.01)
    first.cancel()
    store.gate.set()
    assert (await second).account_id == 1
    assert first.cancelled() and store.lookups == 1


async def test_a_key_revoked_during_its_check_is_not_cached(auth: Authenticator,
                                                            store: _Store) -> None:
    store.gate.clear()
    before = asyncio.create_task(auth.authenticate(_basic("AK", "s3cret")))
    await asyncio.sleep(0.01)
    store.row = None  # deactivated: the lookup finds no active key any more ...
    auth.forget_key("AK")  # ... and the API tells the authenticator
    after = asyncio.create_task(auth.authenticate(_basic("AK", "s3cret")))
    await asyncio.sleep(0.01)
    store.gate.set()
    assert (await before).account_id == 1  # its lookup ran before; that answer is not kept
    with pytest.raises(Unauthorized):
        await after
    with pytest.raises(Unauthorized):
        await auth.authenticate(_basic("AK", "s3cret"))
