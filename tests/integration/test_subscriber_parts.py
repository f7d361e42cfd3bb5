"""The subscriber's pure parts, without a server: configuration, backoff, the resume cursor
and its state file, the per-key bounded queue."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from corral.subscriber import Backoff, ConfigError, Cursor, Endpoint, KeyedQueue, StateFile


@pytest.mark.parametrize(("given", "api"), [
    ("http://corral:8080", "http://corral:8080/v1"),
    ("http://corral:8080/", "http://corral:8080/v1"),
    ("http://corral:8080/v1", "http://corral:8080/v1"),
    ("http://corral:8080/v1/", "http://corral:8080/v1"),
    ("http://corral:8080/v1/schemas", "http://corral:8080/v1"),
    ("https://corral.example/v1/projects/1a5", "https://corral.example/v1/projects/1a5"),
    ("https://corral.example/v1/projects/1a5/subscribe", "https://corral.example/v1/projects/1a5"),
    ("http://proxy/corral/v1", "http://proxy/corral/v1"),
])
def test_cattle_url_may_name_the_server_or_an_api_root(given: str, api: str) -> None:
    endpoint = Endpoint.resolve(given, "AK", "SK", environ={})
    assert str(endpoint.api) == api


def test_the_subscribe_url_carries_names_agent_and_since() -> None:
    endpoint = Endpoint.resolve("https://c.example/v1", "AK", "SK", environ={})
    url = endpoint.subscribe_url(["resource.change", "ping"], agent_id="1ag3", since=41)
    assert url.scheme == "wss" and url.path == "/v1/subscribe"
    assert url.query.getall("eventNames") == ["resource.change", "ping"]
    assert url.query["agentId"] == "1ag3" and url.query["since"] == "41"
    plain = Endpoint.resolve("http://c:1", "AK", "SK", environ={}).subscribe_url(["a"])
    assert str(plain) == "ws://c:1/v1/subscribe?eventNames=a"
    assert str(endpoint.publish_url) == "https://c.example/v1/publish"
    assert endpoint.authorization == "Basic QUs6U0s="


def test_missing_or_bad_configuration_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="CATTLE_ACCESS_KEY, CATTLE_SECRET_KEY"):
        Endpoint.resolve(None, None, None, environ={"CATTLE_URL": "http://c"})
    with pytest.raises(ConfigError, match="http"):
        Endpoint.resolve("corral:8080", "a", "b", environ={})
    env = {"CATTLE_URL": "http://c:2/v1", "CATTLE_ACCESS_KEY": "a", "CATTLE_SECRET_KEY": "s3"}
    endpoint = Endpoint.resolve(None, None, None, environ=env)
    assert str(endpoint.api) == "http://c:2/v1" and "s3" not in repr(endpoint)


def test_backoff_grows_with_jitter_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jitter: never the same twice here
    backoff.reset()
    assert backoff.next() <= 0.5
    with pytest.raises(ValueError):
        Backoff(initial=0)


def test_the_cursor_is_a_low_watermark_and_refuses_what_it_has_seen() -> None:
    cursor = Cursor()
    assert cursor.position is None
    for seq in (10, 12, 15, 16):
        assert cursor.accept(seq)
    assert cursor.position == 9  # fresh: nothing before the first seq is ours
    assert not cursor.accept(12) and cursor.seen(16) and not cursor.seen(13)
    assert not cursor.done(12)  # 10 is not done yet: the position stays
    assert cursor.position == 9
    assert cursor.done(10) and cursor.position == 12
    cursor.done(16)
    assert cursor.position == 12 and cursor.done_above() == [16]
    assert not cursor.accept(16)  # done above the position: still refused
    cursor.done(15)
    assert cursor.position == 16 and cursor.pending == 0 and cursor.done_above() == []
    assert not cursor.accept(3) and cursor.accept(17)


def test_the_state_file_round_trips_and_survives_garbage(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    state = StateFile(path)
    assert state.load().position is None
    cursor = Cursor(100)
    for seq in (101, 102, 103):
        cursor.accept(seq)
    cursor.done(102)
    state.save(cursor)
    assert json.loads(path.read_text()) == {"seq": 100, "done": [102]}
    again = state.load()
    assert again.position == 100 and again.seen(102) and not again.seen(101)
    assert again.accept(101) and again.done(101)  # the replay brings 101 again
    assert again.position == 102 and not again.seen(103)
    path.write_text("{not json")
    assert StateFile(path).load().position is None
    path.write_text(json.dumps({"seq": "x"}))
    assert StateFile(path).load().position is None


async def test_the_keyed_queue_keeps_per_key_order_and_its_bound() -> None:
    queue: KeyedQueue[int] = KeyedQueue(4)
    for n, key in enumerate("aabbc"[:4]):
        await queue.put(key, n)
    blocked = asyncio.create_task(queue.put("c", 4))
    await asyncio.sleep(0)
    assert not blocked.done() and len(queue) == 4  # full: the put waits
    k1, v1 = await queue.get()
    k2, v2 = await queue.get()
    assert (k1, v1, k2, v2) == ("a", 0, "b", 2)  # one per key at a time
    await asyncio.wait_for(blocked, 1)
    k3, v3 = await queue.get()
    assert (k3, v3) == ("c", 4)  # "a" and "b" are running: their next items wait
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    queue.done("b")
    assert await asyncio.wait_for(waiting, 1) == ("b", 3)
    for key in ("a", "b", "c"):
        queue.done(key)
    assert await queue.get() == ("a", 1)
    queue.done("a")
    await asyncio.wait_for(queue.join(), 1)
    assert queue.idle
