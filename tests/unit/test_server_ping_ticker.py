"""The ping ticker: every socket pinged once per interval, a round spread over the interval."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from corral.server.websocket import PING_SLICE, PING_SPREAD, PingTicker


class _Settings:
    def __init__(self, millis: float) -> None:
        self.millis = millis
        self.listeners: list[Callable[[str, str], None]] = []

    def on_change(self, listener: Callable[[str, str], None]) -> None:
        self.listeners.append(listener)

    def get_seconds(self, name: str) -> float:
        assert name == "api.sub.ping.interval.millis"
        return self.millis / 1000


class _Sink:
    def __init__(self) -> None:
        self.times: list[float] = []

    def offer(self, frame: bytes) -> bool:
        assert b'"name":"ping"' in frame
        self.times.append(asyncio.get_running_loop().time())
        return True


async def _run(ticker: PingTicker, sinks: list[_Sink], pings: int) -> None:
    for sink in sinks:
        ticker.add(sink)  # the connect ping
    ticker.start()
    try:
        async with asyncio.timeout(10):
            while min(len(s.times) for s in sinks) < pings:
                await asyncio.sleep(0.01)
    finally:
        await ticker.stop()


async def test_a_round_is_spread_over_the_interval_in_connect_order() -> None:
    interval = 0.2
    sinks = [_Sink() for _ in range(10 * PING_SLICE)]
    await _run(PingTicker(_Settings(interval * 1000)), sinks, pings=2)
    first_round = [s.times[1] for s in sinks]
    assert first_round == sorted(first_round)  # in the order the sockets connected
    # slice 10 of 10 is due 9/10 of the spread after slice 1
    assert first_round[-1] - first_round[0] >= 0.9 * PING_SPREAD * interval - 0.005
    slices = {round(t, 4) for t in first_round}
    assert len(slices) >= 5  # not all in one loop turn


async def test_each_socket_is_pinged_once_per_interval_however_long_a_round_takes() -> None:
    interval = 0.2
    sinks = [_Sink() for _ in range(10 * PING_SLICE)]
    await _run(PingTicker(_Settings(interval * 1000)), sinks, pings=6)
    for sink in (sinks[0], sinks[-1]):
        periods = [b - a for a, b in zip(sink.times[1:6], sink.times[2:6])]
        assert all(p >= interval * 0.8 for p in periods), periods
        # rounds start one interval apart: were the wait counted from a round's end, four
        # periods would take 4 * (1 + PING_SPREAD) intervals
        assert sum(periods) < 4 * interval * (1 + PING_SPREAD / 2), periods
