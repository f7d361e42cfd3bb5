#!/usr/bin/env python
"""Event fan-out: what one server core delivers to many WebSocket subscribers, and at what cost.

``corral server`` runs as a subprocess on a free port of 127.0.0.1, pinned to core 0 with
``taskset`` when there is one. Load runs in other processes pinned to the other core(s):
*generators* (multiprocessing, each holding many WebSocket clients) and one
*publisher* (aiohttp ``POST /v1/publish``: the only publishing path there is, so its cost is
part of every figure and is measured alone), all with one admin-account API key created at
start, after ``api.auth.cache.seconds`` was set to an hour (see ``Server.load_header``).
Every event carries its send time (``data.t``, CLOCK_MONOTONIC ns, shared by all processes).

Phases (all bounded in time; the whole run takes about 2 minutes):

On a fresh server:

1. publish only: ``POST /v1/publish`` with no subscriber, closed loop: publishes/s and the
   server's CPU per publish;
2. saturation for 1, 100 and 1,000 subscribers: the publisher keeps at most ``--window``
   deliveries in flight (published x subscribers - received, summed over every generator
   through shared counters) and publishes as fast as that allows: delivered events/s,
   publish->deliver latency p50/p99, the spread between the first and the last subscriber
   of one event, and the server's CPU time (utime+stime from /proc/<pid>/stat over the
   window) per delivered event;
3. fixed rate: 10,000 deliveries/s (100 events/s to 100 subscribers, and 10 events/s to
   1,000): latency p50/p99/max.

On a second fresh server (a clean RSS baseline):

4. idle connections: server RSS before and after 1,000 and 10,000 subscribed, idle sockets
   (RSS delta / connections);
5. the fixed rate to 100 subscribers again with those 10,000 idle sockets open.

The measured subscribers use ``bench/leanws.py`` (``--client lean``, the default), a client
that costs a few us per message, or aiohttp's (``--client aiohttp``, ~20-30 us): the load
core's time per message is part of every latency here, 100 subscribers of one event share
that core. Idle sockets are always aiohttp's (the client of corral's agent and SDK), so the
RSS figure stays comparable: the server's RSS after the same 1,000 connections was 7.6
KiB each with leanws clients and 16.8 KiB with aiohttp's, for the same Python heap per
connection (~17 KiB by tracemalloc); RSS deltas follow how allocations interleave.

An idle client reads its socket up to the first ping (subscribed), then no more (the
kernel keeps the pings; a few per minute): otherwise the load core spends ~0.3 s parsing
the 10,000 pings of every ping round, and the measured subscribers, on the same core,
wait for it (``--idle-reading`` keeps them reading, as before).

Each phase also records how busy the rest of the machine was (``other_cpu_util``, cores):
figures taken while something else runs are noisy, latency above all.

It prints a table and writes ``bench/results/fanout-<date>.json``. Loopback only.

    python bench/fanout.py
    python bench/fanout.py --subscribers 1,100 --idle 1000 --seconds 3     # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from datetime import date
from pathlib import Path
from typing import Any

from common import free_port, machine, py_spy

HERE = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
EVENT = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ----------------------------------------------------------------------------- /proc


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def machine_busy_seconds() -> float:
    """CPU seconds spent on anything but idle/iowait, all cores, since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def background_load(seconds: float = 1.0) -> float:
    """How many cores something else keeps busy right now (other sessions, tests...)."""
    b0 = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - b0) / seconds


def proc_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def percentile(sorted_values: list[int] | array, q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[i])


def pin(cores: set[int] | None) -> None:
    if cores and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, cores)
        except OSError:
            pass


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ----------------------------------------------------------------------------- generator


def generator_main(conn: Any, ws_url: str, headers: dict[str, str], cores: set[int] | None,
                   counter: Any) -> None:
    """A process holding many WebSocket subscribers; driven by commands over ``conn``."""
    pin(cores)
    raise_nofile()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop = new_loop()
    try:
        loop.run_until_complete(_generator(conn, ws_url, headers, counter))
    finally:
        loop.close()


async def _generator(conn: Any, ws_url: str, headers: dict[str, str], counter: Any) -> None:
    import aiohttp
    import orjson

    sys.path.insert(0, str(HERE))
    import leanws

    loop = asyncio.get_running_loop()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    sockets: list[tuple[Any, asyncio.Task[None] | None]] = []  # (socket, aiohttp's reader)
    state = {"measuring": False, "count": 0}
    latencies = array("q")
    events = array("q")  # the event number (data.k) of each latency sample
    now = time.monotonic_ns
    loads = orjson.loads
    text = aiohttp.WSMsgType.TEXT

    def received(raw: bytes | str, ready: asyncio.Future[None]) -> bool:
        """Count one message; True for the first ping (subscribed) of a socket."""
        event = loads(raw)
        if event["name"] == EVENT:
            t = now()
            counter.value += 1
            if state["measuring"]:
                state["count"] += 1
                data = event["data"]
                latencies.append(t - data["t"])
                events.append(data["k"])
        elif not ready.done():
            ready.set_result(None)
            return True
        return False

    async def read(ws: Any, ready: asyncio.Future[None], keep_reading: bool) -> None:
        async for msg in ws:
            if msg.type == text and received(msg.data, ready) and not keep_reading:
                # An idle socket: the rest waits in the kernel. Leaving the loop is not
                # enough, aiohttp's protocol would still parse every ping into its queue
                # (up to 64 KiB) on the load core: stop reading at the transport.
                conn = ws._response.connection
                if conn is not None and conn.transport is not None:
                    conn.transport.pause_reading()
                return

    async def open_aiohttp(url: str, ready: asyncio.Future[None], keep_reading: bool
                           ) -> tuple[Any, Any]:
        ws = await session.ws_connect(url, headers=headers, autoping=True, max_msg_size=0)
        return ws, loop.create_task(read(ws, ready, keep_reading))

    async def open_lean(url: str, ready: asyncio.Future[None], keep_reading: bool
                        ) -> tuple[Any, Any]:
        def on_text(payload: bytes) -> None:
            if received(payload, ready) and not keep_reading:
                sock.pause()
        sock = await leanws.connect(url, headers, on_text)
        return sock, None

    async def connect_one(names: list[str], gate: asyncio.Semaphore, keep_reading: bool,
                          client: str) -> bool:
        open_socket = open_lean if client == "lean" else open_aiohttp
        url = ws_url + "?" + "&".join(f"eventNames={n}" for n in names)
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            for attempt in range(5):
                try:
                    sockets.append(await open_socket(url, ready, keep_reading))
                    break
                except (aiohttp.ClientError, OSError):
                    if attempt == 4:
                        return False
                    await asyncio.sleep(0.2 * (attempt + 1))
            try:
                await asyncio.wait_for(ready, 30)
            except TimeoutError:
                return False
            return True

    try:
        while True:
            cmd, *args = await loop.run_in_executor(None, conn.recv)
            if cmd == "connect":
                n, names, parallel, keep_reading, client = args
                t0 = time.perf_counter()
                gate = asyncio.Semaphore(parallel)
                ok = await asyncio.gather(*(connect_one(names, gate, keep_reading, client)
                                            for _ in range(n)))
                conn.send(("ok", sum(ok), time.perf_counter() - t0))
            elif cmd == "start":
                del latencies[:]
                del events[:]
                state["count"] = 0
                state["measuring"] = True
                conn.send(("ok",))
            elif cmd == "stop":
                state["measuring"] = False
                conn.send(("ok", state["count"], latencies.tobytes(), events.tobytes()))
            elif cmd == "close":
                for ws, task in sockets:
                    await ws.close()
                    if task is not None:
                        task.cancel()
                await asyncio.gather(*(t for _, t in sockets if t is not None),
                                     return_exceptions=True)
                sockets.clear()
                conn.send(("ok",))
            elif cmd == "exit":
                conn.send(("ok",))
                return
    finally:
        await session.close()


# ----------------------------------------------------------------------------- publisher


def publisher_main(conn: Any, url: str, headers: dict[str, str], cores: set[int] | None,
                   counters: list[Any]) -> None:
    pin(cores)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop = new_loop()
    try:
        loop.run_until_complete(_publisher(conn, url, headers, counters))
    finally:
        loop.close()


async def _publisher(conn: Any, url: str, headers: dict[str, str], counters: list[Any]) -> None:
    import aiohttp
    import orjson

    loop = asyncio.get_running_loop()
    hdrs = {**headers, "Content-Type": "application/json"}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    now = time.monotonic_ns

    async def post(k: int, rtts: array, errors: list[str]) -> None:
        t = now()
        body = orjson.dumps({"name": EVENT, "data": {"t": t, "k": k}})
        try:
            async with session.post(url, data=body, headers=hdrs) as r:
                await r.read()
                if r.status != 201:
                    errors.append(f"{r.status}")
        except (aiohttp.ClientError, OSError) as e:
            errors.append(repr(e))
        rtts.append(now() - t)

    def received() -> int:
        return sum(c.value for c in counters)

    async def closed_loop(seconds: float, subscribers: int, window: int, workers: int
                          ) -> dict[str, Any]:
        rtts: array = array("q")
        errors: list[str] = []
        published = 0
        base = received()
        end = loop.time() + seconds

        async def worker() -> None:
            nonlocal published
            while loop.time() < end:
                if subscribers:
                    while published * subscribers - (received() - base) > window:
                        if loop.time() >= end:
                            return
                        await asyncio.sleep(0.0005)
                k = published
                published += 1
                await post(k, rtts, errors)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return {"published": published, "seconds": time.perf_counter() - t0,
                "rtt": rtts.tobytes(), "errors": errors[:5], "error_count": len(errors)}

    async def fixed_rate(seconds: float, rate: float) -> dict[str, Any]:
        rtts: array = array("q")
        errors: list[str] = []
        tasks: set[asyncio.Task[None]] = set()
        start = loop.time()
        total = int(seconds * rate)
        t0 = time.perf_counter()
        for k in range(total):
            delay = start + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = loop.create_task(post(k, rtts, errors))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        return {"published": total, "seconds": time.perf_counter() - t0, "rtt": rtts.tobytes(),
                "errors": errors[:5], "error_count": len(errors)}

    try:
        while True:
            cmd, *args = await loop.run_in_executor(None, conn.recv)
            if cmd == "closed":
                conn.send(await closed_loop(*args))
            elif cmd == "rate":
                conn.send(await fixed_rate(*args))
            elif cmd == "exit":
                conn.send({})
                return
    finally:
        await session.close()


# ----------------------------------------------------------------------------- the run


class Server:
    def __init__(self, data_dir: Path, core: int | None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        cmd = [sys.executable, "-m", "corral.cli", "--log-level", "WARNING", "server",
               "--host", LOOPBACK, "--port", str(self.port), "--data-dir", str(data_dir)]
        if core is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(core), *cmd]
        self.log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid  # taskset execs: same pid
        self.url = f"http://{LOOPBACK}:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
                    if r.status == 200 and (self.data_dir / "admin-key").exists():
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.tail()}")

    def admin_header(self) -> dict[str, str]:
        import base64

        kv = dict(line.split("=", 1) for line in
                  (self.data_dir / "admin-key").read_text().split())
        token = f"{kv['CATTLE_ACCESS_KEY']}:{kv['CATTLE_SECRET_KEY']}"
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}

    def load_header(self) -> dict[str, str]:
        """A new admin-account API key for the load, first checked after the auth cache was
        set to an hour: the load's requests never wait for its (slow, on purpose) check
        again. With the default 30 s every concurrent request at expiry hashes it anew,
        on the server's one core, and the phase that meets it stalls for 0.1-0.9 s."""
        import base64

        self.put_setting("api.auth.cache.seconds", "3600")
        req = urllib.request.Request(f"{self.url}/v1/apikeys", method="POST",
                                     data=json.dumps({"name": "fanout-bench"}).encode(),
                                     headers={**self.admin_header(),
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            key = json.loads(r.read())
        token = f"{key['publicValue']}:{key['secretValue']}"
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}

    def put_setting(self, name: str, value: str) -> None:
        req = urllib.request.Request(f"{self.url}/v1/settings/{name}", method="PUT",
                                     data=json.dumps({"value": value}).encode(),
                                     headers={**self.admin_header(),
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200

    def cpu(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss(self) -> int:
        return proc_rss_bytes(self.pid)

    def tail(self) -> str:
        self.log.flush()
        return (self.data_dir.parent / "server.log").read_bytes()[-2000:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class Load:
    """The generator processes and the publisher process, and how to drive them."""

    def __init__(self, server: Server, generators: int, cores: set[int] | None,
                 client: str) -> None:
        self.client = client
        ctx = mp.get_context("spawn")
        headers = server.load_header()
        ws_url = server.url.replace("http://", "ws://") + "/v1/subscribe"
        self.counters = [ctx.Value("q", 0, lock=False) for _ in range(generators)]
        self.gens: list[tuple[Any, Any]] = []
        for counter in self.counters:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=generator_main, args=(child, ws_url, headers, cores,
                                                         counter), daemon=True)
            p.start()
            self.gens.append((p, parent))
        parent, child = ctx.Pipe()
        self.pub = ctx.Process(target=publisher_main, args=(
            child, f"{server.url}/v1/publish", headers, cores, self.counters), daemon=True)
        self.pub.start()
        self.pub_conn = parent
        self.connected = 0

    def _all(self, *cmd: Any, timeout: float = 120) -> list[tuple[Any, ...]]:
        for _, c in self.gens:
            c.send(cmd)
        out = []
        for _, c in self.gens:
            if not c.poll(timeout):
                raise RuntimeError(f"a generator did not answer {cmd[0]}")
            out.append(c.recv())
        return out

    def connect(self, total: int, names: list[str], parallel: int = 16,
                reading: bool = True, client: str | None = None) -> float:
        """Open ``total`` more subscribers spread over the generators; returns seconds.

        ``reading=False``: each stops reading after its first ping (idle sockets).
        ``client``: "lean" or "aiohttp", by default the one of the measured subscribers."""
        client = client or self.client
        per, extra = divmod(total, len(self.gens))
        t0 = time.perf_counter()
        for i, (_, c) in enumerate(self.gens):
            c.send(("connect", per + (1 if i < extra else 0), names, parallel, reading, client))
        for _, c in self.gens:
            if not c.poll(300):
                raise RuntimeError("connecting took too long")
            _, ok, _ = c.recv()
            self.connected += ok
        return time.perf_counter() - t0

    def close(self) -> None:
        self._all("close")
        self.connected = 0

    def start(self) -> None:
        self._all("start")

    def stop(self) -> tuple[int, list[int], list[int]]:
        """Deliveries counted, their latencies (sorted), and per event the spread between
        its first and its last delivery (sorted)."""
        delivered = 0
        lat = array("q")
        ks = array("q")
        for _, count, raw, raw_k in self._all("stop"):
            delivered += count
            lat.frombytes(raw)
            ks.frombytes(raw_k)
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for k, t in zip(ks, lat):
            if t < first.get(k, 1 << 62):
                first[k] = t
            if t > last.get(k, -1):
                last[k] = t
        spread = sorted(last[k] - first[k] for k in first)
        return delivered, sorted(lat), spread

    def publish(self, *cmd: Any, timeout: float = 120) -> dict[str, Any]:
        self.pub_conn.send(cmd)
        if not self.pub_conn.poll(timeout):
            raise RuntimeError("the publisher did not finish")
        out = self.pub_conn.recv()
        out["rtt"] = sorted(array("q", out["rtt"]))
        return out

    def cpu(self) -> float:
        total = 0.0
        for p, _ in self.gens:
            total += proc_cpu_seconds(p.pid)
        return total + proc_cpu_seconds(self.pub.pid)

    def shutdown(self) -> None:
        for p, c in self.gens:
            try:
                c.send(("exit",))
            except OSError:
                pass
        try:
            self.pub_conn.send(("exit",))
        except OSError:
            pass
        for p in [*(p for p, _ in self.gens), self.pub]:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)


def wait_quiet(limit: float) -> float:
    """Wait up to ``limit`` seconds until the rest of the machine is idle; seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and background_load(0.5) > 0.15:
        pass
    return time.monotonic() - t0


class Bench:
    """A fresh server (own temporary data dir) and its load processes; cleaned up on exit."""

    def __init__(self, server_core: int | None, load_cores: set[int] | None,
                 generators: int, client: str) -> None:
        self.server_core, self.load_cores, self.generators = server_core, load_cores, generators
        self.client = client

    def __enter__(self) -> tuple[Server, Load]:
        self.tmp = Path(tempfile.mkdtemp(prefix="corral-fanout-"))
        self.server = Server(self.tmp / "data", self.server_core)
        self.load: Load | None = None
        try:
            self.server.wait_ready()
            self.server.put_setting("api.sub.queue.max.events", "10000")
            self.load = Load(self.server, self.generators, self.load_cores, self.client)
        except BaseException:
            self.__exit__()
            raise
        return self.server, self.load

    def __exit__(self, *_: object) -> None:
        try:
            if self.load is not None:
                self.load.shutdown()
        finally:
            self.server.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


def measure(server: Server, load: Load, subscribers: int, run: tuple[Any, ...],
            profile: Path | None = None, quiet: float = 0) -> dict[str, Any]:
    """Run one publisher command while counting deliveries and CPU.

    With ``profile``, py-spy samples the server during the window (collapsed stacks).
    With ``quiet``, first wait up to that many seconds for the machine to be idle.
    """
    waited = wait_quiet(quiet) if quiet > 0 else 0.0
    spy = None
    spy_bin = py_spy() if profile is not None else None
    if profile is not None and spy_bin is None:
        print("py-spy not found: pip install py-spy", file=sys.stderr)
    if spy_bin is not None:
        spy = subprocess.Popen([spy_bin, "record", "-p", str(server.pid), "-r", "200",
                                "-f", "raw", "-o", str(profile), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    load.start()
    busy0 = machine_busy_seconds()
    cpu0, load_cpu0, t0 = server.cpu(), load.cpu(), time.perf_counter()
    pub = load.publish(*run)
    cpu1, load_cpu1, t1 = server.cpu(), load.cpu(), time.perf_counter()
    busy1 = machine_busy_seconds()
    # let what is in flight arrive (bounded by the window), then stop counting
    deadline = time.monotonic() + 2
    expected = pub["published"] * subscribers
    base = sum(c.value for c in load.counters)
    while time.monotonic() < deadline and subscribers:
        now_total = sum(c.value for c in load.counters)
        if now_total == base and now_total > 0:
            break
        base = now_total
        time.sleep(0.05)
    delivered, lat, spread = load.stop()
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(20)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
    seconds = t1 - t0
    cpu = cpu1 - cpu0
    rtt = pub["rtt"]
    return {
        "subscribers": subscribers,
        "seconds": round(seconds, 3),
        "published": pub["published"],
        "publish_errors": pub["error_count"],
        "publishes_per_s": round(pub["published"] / seconds, 1),
        "delivered": delivered,
        "expected_deliveries": expected,
        "delivered_per_s": round(delivered / seconds, 1),
        "latency_p50_ms": round(percentile(lat, 0.50) / 1e6, 3),
        "latency_p99_ms": round(percentile(lat, 0.99) / 1e6, 3),
        "latency_max_ms": round(lat[-1] / 1e6, 3) if lat else None,
        # first to last subscriber of one event: the fan-out itself (server and clients)
        "spread_p50_ms": round(percentile(spread, 0.50) / 1e6, 3),
        "spread_p99_ms": round(percentile(spread, 0.99) / 1e6, 3),
        "publish_rtt_p50_ms": round(percentile(rtt, 0.50) / 1e6, 3),
        "publish_rtt_p99_ms": round(percentile(rtt, 0.99) / 1e6, 3),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_util": round(cpu / seconds, 3),
        "server_cpu_us_per_delivery": round(cpu / delivered * 1e6, 2) if delivered else None,
        "server_cpu_us_per_publish": round(cpu / pub["published"] * 1e6, 1)
        if pub["published"] else None,
        "load_cpu_util": round((load_cpu1 - load_cpu0) / seconds, 3),
        # anything else on the machine during the window (in cores): should be ~0
        "other_cpu_util": round(max(0.0, (busy1 - busy0) - cpu - (load_cpu1 - load_cpu0))
                                / seconds, 3),
        "waited_for_quiet_s": round(waited, 1),
    }


def settle_rss(server: Server, seconds: float = 1.0) -> int:
    time.sleep(seconds)
    return server.rss()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subscribers", default="1,100,1000")
    ap.add_argument("--idle", default="1000,10000", help="idle connection counts for RSS")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each measured phase")
    ap.add_argument("--generators", type=int, default=4)
    ap.add_argument("--window", type=int, default=5000,
                    help="saturation: deliveries allowed in flight (published, not received)")
    ap.add_argument("--workers", type=int, default=8, help="concurrent publish requests")
    ap.add_argument("--date", default=date.today().isoformat())
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--max-seconds", type=float, default=300, help="hard limit for the run")
    ap.add_argument("--profile", default=None,
                    help="directory: py-spy the server during each measured phase")
    ap.add_argument("--wait-quiet", type=float, default=0,
                    help="before each measured phase, wait up to this many seconds for the "
                         "rest of the machine to be idle (a shared machine)")
    ap.add_argument("--client", choices=("lean", "aiohttp"), default="lean",
                    help="the subscribers' WebSocket client: bench/leanws.py (a few us per "
                         "message) or aiohttp's (~20-30 us, which the load core adds to "
                         "every latency)")
    ap.add_argument("--idle-reading", action="store_true",
                    help="idle clients keep reading their sockets (every ping parsed on the "
                         "load core, next to the measured subscribers)")
    args = ap.parse_args()

    nofile = raise_nofile()
    profile_dir = Path(args.profile) if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)

    def prof(name: str) -> Path | None:
        return None if profile_dir is None else profile_dir / f"{name}.txt"

    ncpu = os.cpu_count() or 1
    server_core = 0 if ncpu >= 2 else None
    load_cores = set(range(1, ncpu)) if ncpu >= 2 else None
    subs_list = [int(x) for x in args.subscribers.split(",") if x]
    idle_list = sorted(int(x) for x in args.idle.split(",") if x)
    if idle_list and idle_list[-1] + 100 > nofile:
        sys.exit(f"RLIMIT_NOFILE is {nofile}: too low for {idle_list[-1]} connections")

    def alarm(*_: Any) -> None:
        raise TimeoutError(f"the benchmark ran longer than {args.max_seconds} s")

    results: dict[str, Any] = {"date": args.date, "machine": machine(), "client": args.client,
                               "server_core": server_core,
                               "load_cores": sorted(load_cores) if load_cores else None,
                               "settings": {"api.sub.queue.max.events": "10000",
                                            "api.auth.cache.seconds": "3600"},
                               "idle_reading": args.idle_reading,
                               "idle": [], "publish_only": None, "saturation": [],
                               "fixed_rate": []}
    phases = 1 + len(subs_list) + 3
    signal.signal(signal.SIGALRM, alarm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on kill, too
    signal.alarm(int(args.max_seconds + phases * args.wait_quiet))
    results["background_cores_busy_before"] = round(background_load(), 2)
    if results["background_cores_busy_before"] > 0.2:
        print(f"warning: something else keeps {results['background_cores_busy_before']} cores "
              "busy: the figures will be noisy", file=sys.stderr, flush=True)
    started = time.perf_counter()
    quiet = args.wait_quiet

    # Server A: publishing, saturation and fixed rate, on a fresh server.
    with Bench(server_core, load_cores, args.generators, args.client) as (server, load):
        # publishing alone (nobody subscribed to the event)
        results["publish_only"] = measure(server, load, 0,
                                          ("closed", args.seconds / 2, 0, 0, args.workers),
                                          profile=prof("publish-only"), quiet=quiet)
        print(f"publish only {results['publish_only']}", flush=True)

        for n in subs_list:  # saturation
            load.connect(n, [EVENT])
            row = measure(server, load, n, ("closed", args.seconds, n, args.window,
                                            args.workers), profile=prof(f"saturation-{n}"),
                          quiet=quiet)
            results["saturation"].append(row)
            print(f"saturation {row}", flush=True)
            load.close()

        for n, rate in ((100, 100.0), (1000, 10.0)):  # fixed rate: 10,000 deliveries/s
            load.connect(n, [EVENT])
            row = measure(server, load, n, ("rate", args.seconds, rate),
                          profile=prof(f"rate-{n}"), quiet=quiet)
            row["target_deliveries_per_s"] = n * rate
            row["idle_connections"] = 0
            results["fixed_rate"].append(row)
            print(f"fixed rate {row}", flush=True)
            load.close()

    # Server B (fresh, so the RSS baseline is clean): idle connections, then the fixed rate
    # again with all of them open.
    if idle_list:
        with Bench(server_core, load_cores, args.generators, args.client) as (server, load):
            load.connect(8, ["warmup"], client="aiohttp")
            load.close()
            base_rss = settle_rss(server)
            have = 0
            for n in idle_list:
                secs = load.connect(n - have, ["idle.nothing"], parallel=16,
                                    reading=args.idle_reading, client="aiohttp")
                have = n
                rss = settle_rss(server)
                row = {"connections": load.connected, "connect_seconds": round(secs, 2),
                       "server_rss_mib": round(rss / 2**20, 1),
                       "baseline_rss_mib": round(base_rss / 2**20, 1),
                       "kib_per_connection": round((rss - base_rss) / load.connected / 1024, 2)}
                results["idle"].append(row)
                print(f"idle {row}", flush=True)
            idle = load.connected
            load.connect(100, [EVENT])
            row = measure(server, load, 100, ("rate", args.seconds, 100.0),
                          profile=prof("rate-100-with-idle"), quiet=quiet)
            row["target_deliveries_per_s"] = 10_000.0
            row["idle_connections"] = idle
            results["fixed_rate"].append(row)
            print(f"fixed rate with {idle} idle {row}", flush=True)
    signal.alarm(0)
    results["run_seconds"] = round(time.perf_counter() - started, 1)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"fanout-{args.date}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {path}")


def print_table(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\nfan-out, {r['date']}, {m['cpus']} x {m['cpu_model']}, server on core "
          f"{r['server_core']}, load on {r['load_cores']}, {r['client']} client")
    print("\nidle connections   server RSS (MiB)   KiB per connection")
    for row in r["idle"]:
        print(f"{row['connections']:>16}   {row['server_rss_mib']:>16}   "
              f"{row['kib_per_connection']:>18}")
    p = r["publish_only"]
    if p:
        print(f"\npublish only: {p['publishes_per_s']:.0f} POST /v1/publish per s, "
              f"{p['server_cpu_us_per_publish']} us server CPU each, server core "
              f"{p['server_cpu_util'] * 100:.0f}% busy, rtt p50 {p['publish_rtt_p50_ms']} ms")
    print("\n(latency: publish->deliver, ms; spread99: p99 of first-to-last subscriber of one "
          "event; us/deliv: server CPU per delivered event; cpu columns in % of one core)")
    head = (f"\n{'mode':<10} {'subs':>5} {'pub/s':>8} {'deliv/s':>9} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8} {'spread99':>8} {'us/deliv':>9} {'srv cpu':>8} {'load cpu':>8} "
            f"{'other':>6}")
    print(head)
    for mode in ("saturation", "fixed_rate"):
        for row in r[mode]:
            label = mode if not row.get("idle_connections") else f"rate+{row['idle_connections']}"
            print(f"{label:<10} {row['subscribers']:>5} {row['publishes_per_s']:>8.0f} "
                  f"{row['delivered_per_s']:>9.0f} {row['latency_p50_ms']:>8.2f} "
                  f"{row['latency_p99_ms']:>8.2f} {row['latency_max_ms'] or 0:>8.1f} "
                  f"{row['spread_p99_ms']:>8.2f} "
                  f"{row['server_cpu_us_per_delivery'] or 0:>9.2f} "
                  f"{row['server_cpu_util'] * 100:>7.0f}% {row['load_cpu_util'] * 100:>7.0f}% "
                  f"{row['other_cpu_util'] * 100:>5.0f}%")


if __name__ == "__main__":
    main()
