#!/usr/bin/env python
"""End-to-end processes/s: ``POST /v1/instances`` → ``instance.create`` → ``instance.start``
→ ``compute.instance.activate`` to an agent → its reply → the instance ``running``.

For each backend (SQLite in a temporary data dir, then PostgreSQL in a fresh database
``corral_bench_<random>`` created through the ``test`` database and dropped afterwards) this
starts ``corral server`` as a subprocess on a free port of 127.0.0.1, registers ``--agents``
agents (one host each) straight in the database with ``register_agent``, runs each agent as a
subprocess of this script that subscribes over the WebSocket and replies to every command at
once, then creates ``--instances`` instances with ``--concurrency`` clients and waits until
every ``instance.start`` has finished. It reports:

* creates/s accepted by the API (201s over the time from the first POST to the last answer);
* completed instance starts/s end to end (instances over the time from the first POST to
  the ``end_time`` of the last ``instance.start``, read from the process rows);
* the server's CPU time (utime+stime from ``/proc/<pid>/stat``) per instance and per process
  row (each instance runs two: ``instance.create`` chaining to ``instance.start``);
* on PostgreSQL, committed transactions and rows written per instance (``pg_stat_database``).

It prints a table and writes ``bench/results/processes-<date>.json``. Every wait is bounded,
the whole run has a hard limit (``--max-seconds``), and all traffic goes to 127.0.0.1.
``--py-spy DIR`` also records the server with py-spy during the measured phase (a flame
graph ``processes-<backend>.svg`` and the collapsed stacks ``processes-<backend>.txt``).

    python bench/processes.py                        # both backends, 2,000 instances each
    python bench/processes.py --backends sqlite --instances 300 --agents 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from common import (
    LOOPBACK,
    PG_ADMIN_URL,
    create_pg_database,
    drop_pg_database,
    free_port,
    write_results,
)
from common import py_spy as find_py_spy  # start_py_spy's local is named py_spy

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
COMMANDS = ("compute.instance.activate", "compute.instance.deactivate", "compute.instance.remove",
            "storage.volume.activate", "storage.volume.deactivate", "storage.volume.remove")


@dataclass
class Result:
    backend: str
    instances: int
    agents: int
    concurrency: int
    create_errors: int
    creates_s: float  # time from the first POST to the last 201
    creates_per_s: float
    create_ms_p50: float  # a create's response time (POST → 201)
    create_ms_p99: float
    e2e_s: float  # time from the first POST to the end of the last instance.start
    starts_per_s: float
    process_rows_per_s: float  # instance.create + instance.start rows finished per second
    server_cpu_s: float
    server_cpu_ms_per_instance: float
    server_cpu_ms_per_process: float
    server_cpu_utilisation: float  # server CPU seconds / e2e seconds
    activates_received: int  # by the agents; > instances means some were sent again
    retried_starts: int  # instance.start rows with more than one attempt
    db: dict[str, float] = field(default_factory=dict)  # PostgreSQL counters per instance
    # PostgreSQL: per table, scans and rows read per instance (the busiest tables)
    db_tables: dict[str, dict[str, float]] = field(default_factory=dict)
    db_cpu_ms_per_instance: float | None = None  # PostgreSQL backends serving the server
    # 1-minute load average before and after: other work on the machine skews the figures
    loadavg_before: float = 0.0
    loadavg_after: float = 0.0
    error_samples: list[str] = field(default_factory=list)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def basic(access: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{access}:{secret}".encode()).decode()


# ---------------------------------------------------------------------------- the agent

async def agent_main(url: str, access: str, secret: str, agent_wire_id: str) -> None:
    """Subscribe as the agent and reply success to every command (and ping call) at once.

    On SIGTERM prints ``{"received": n, "replied": n, "failed": n}`` and exits.
    """
    counts = {"received": 0, "replied": 0, "failed": 0}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    names = "&".join(f"eventNames={n}" for n in (*COMMANDS, "ping"))
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(headers={"Authorization": basic(access, secret)},
                                     connector=connector) as session:
        ws = await session.ws_connect(f"{url}/v1/subscribe?{names}&agentId={agent_wire_id}",
                                      max_msg_size=0)
        print("subscribed", flush=True)
        pending: set[asyncio.Task[None]] = set()

        async def reply(event: dict[str, Any]) -> None:
            rtype = event.get("resourceType")
            data: dict[str, Any] = {}
            if event.get("name") == "ping":  # §10: an agent that misses pings reconnects
                data = {"resources": []}
            elif rtype == "instance":
                data = {"instance": {"externalId": f"c-{event.get('resourceId')}"}}
            body = {"name": event["replyTo"], "previousIds": [event["id"]],
                    "previousNames": [event["name"]], "resourceType": rtype,
                    "resourceId": event.get("resourceId"), "data": data}
            try:
                async with session.post(f"{url}/v1/publish", json=body) as r:
                    await r.read()
                    if event.get("name") != "ping":
                        counts["replied" if r.status == 201 else "failed"] += 1
            except aiohttp.ClientError:
                counts["failed"] += 1

        async def read() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(msg.data)
                if not event.get("replyTo"):
                    continue
                if event.get("name") != "ping":
                    counts["received"] += 1
                t = loop.create_task(reply(event))
                pending.add(t)
                t.add_done_callback(pending.discard)

        reader = loop.create_task(read())
        await stop.wait()
        reader.cancel()
        await asyncio.gather(reader, *pending, return_exceptions=True)
        await ws.close()
    print(json.dumps(counts), flush=True)


# ---------------------------------------------------------------------------- the server

class Server:
    """``corral server`` in a subprocess with a known admin key; output to a log file."""

    def __init__(self, workdir: Path, db_url: str | None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "server.log"
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.auth = ("BENCH" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def store_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'corral.db'}"

    async def start(self, session: aiohttp.ClientSession, timeout: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "corral.cli", "--log-level", "WARNING", "server",
               "--host", LOOPBACK, "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.db_url:
            cmd += ["--db", self.db_url]
        env = {k: v for k, v in os.environ.items() if k != "CORRAL_DB_URL"}
        env.update(CORRAL_ADMIN_ACCESS_KEY=self.auth[0], CORRAL_ADMIN_SECRET_KEY=self.auth[1])
        with open(self.log_path, "wb") as log:  # noqa: ASYNC230 - a local file, once
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,  # noqa: ASYNC220
                                         stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("corral server did not start:\n"
                                   + self.log_path.read_text(errors="replace")[-4000:])
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{self.url}/v1") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)  # polling for the server to answer

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class AgentProcess:
    def __init__(self, server: Server, access: str, secret: str, agent_wire_id: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_agent", server.url, access,
             secret, agent_wire_id],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    async def wait_subscribed(self, timeout: float = 30.0) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if b"subscribed" not in line:
            rest = line + (self.proc.stdout.read() if self.proc.poll() is not None else b"")
            raise RuntimeError(f"agent did not subscribe: {rest.decode(errors='replace')}")

    def stop(self) -> dict[str, int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                out, _ = self.proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
        else:
            out = self.proc.stdout.read() if self.proc.stdout else b""
        for line in reversed(out.decode(errors="replace").splitlines()):
            with contextlib.suppress(ValueError):
                return dict(json.loads(line))
        return {}


# ---------------------------------------------------------------------------- PostgreSQL

async def pg_counters(name: str) -> dict[str, int]:
    """This database's counters, read from the ``test`` database (not counted in them)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, "
            "tup_fetched, tup_returned, blks_hit, blks_read FROM pg_stat_database "
            "WHERE datname = $1", name)
    finally:
        await conn.close()
    return dict(row) if row else {}


class PgBackendCpu:
    """CPU time of the PostgreSQL backends of one database, sampled while the run goes on.

    A backend that exits between two samples loses its last moments; the server keeps a
    connection pool, so that is rare and small.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.conn: Any = None
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    async def open(self) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        await self.sample(baseline=True)

    async def sample(self, baseline: bool = False) -> None:
        rows = await self.conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1",
                                     self.name)
        for r in rows:
            with contextlib.suppress(OSError, ValueError):
                cpu = cpu_seconds(int(r["pid"]))
                self.first.setdefault(int(r["pid"]), cpu if baseline else 0.0)
                self.last[int(r["pid"])] = cpu

    def seconds(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


async def pg_table_reads(db_url: str) -> dict[str, dict[str, int]]:
    """Rows read per table of the benchmark's database (``pg_stat_user_tables``)."""
    import asyncpg

    conn = await asyncpg.connect(db_url, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch "
            "FROM pg_stat_user_tables")
    finally:
        await conn.close()
    return {r["relname"]: {k: int(r[k] or 0) for k in ("seq_scan", "seq_tup_read", "idx_scan",
                                                        "idx_tup_fetch")} for r in rows}


# ---------------------------------------------------------------------------- the run

async def register_agents(server: Server, session: aiohttp.ClientSession, count: int
                          ) -> list[Any]:
    from corral.resources.agents import register_agent
    from corral.store import Store

    async with session.get(f"{server.url}/v1/projects") as r:
        project = (await r.json())["data"][0]
    store = Store(server.store_url)
    regs = []
    try:
        async with store.tx() as conn:
            for i in range(count):
                regs.append(await register_agent(conn, project_id=int(project["id"][2:]),
                                                 hostname=f"bench-{i}"))
    finally:
        await store.close()
    deadline = time.monotonic() + 30
    for reg in regs:
        while True:
            async with session.get(f"{server.url}/v1/hosts/1h{reg.host_id}") as r:
                body = await r.json()
            if body.get("state") == "active" and body.get("transitioning") == "no":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {reg.host_id} not active: {body}")
            await asyncio.sleep(0.1)  # polling for the host's processes to finish
    return regs


class Progress:
    """Reads the process rows from the bench's own connection to the database."""

    def __init__(self, store_url: str) -> None:
        from corral.store import Store

        self.store = Store(store_url, pool_size=1)

    async def unfinished(self) -> int:
        """Unfinished process rows (an index range: cheap enough to poll without skewing)."""
        import sqlalchemy as sa

        from corral.store import tables

        pi = tables.process_instance
        row = await self.store.fetch_one(sa.select(sa.func.count()).where(
            pi.c.end_time.is_(None)))
        return int(row[0]) if row else 0

    async def starts(self) -> tuple[int, int | None, int]:
        """(finished instance.start rows, the last end_time in ms, rows with retries)."""
        import sqlalchemy as sa

        from corral.store import tables

        pi = tables.process_instance
        row = await self.store.fetch_one(
            sa.select(sa.func.count(), sa.func.max(pi.c.end_time),
                      sa.func.sum(sa.case((pi.c.execution_count > 1, 1), else_=0)))
            .where(pi.c.process_name == "instance.start", pi.c.end_time.is_not(None)))
        assert row is not None
        return int(row[0]), (int(row[1]) if row[1] is not None else None), int(row[2] or 0)

    async def running_instances(self) -> int:
        import sqlalchemy as sa

        from corral.store import tables

        i = tables.instance
        row = await self.store.fetch_one(sa.select(sa.func.count()).where(
            i.c.state == "running", i.c.transitioning == "no"))
        return int(row[0]) if row else 0

    async def close(self) -> None:
        await self.store.close()


async def create_instances(session: aiohttp.ClientSession, server: Server, count: int,
                           concurrency: int) -> tuple[float, float, list[str], list[float]]:
    """Returns (wall-clock ms of the first POST, seconds until the last answer, errors,
    each create's response time in ms)."""
    next_i = 0
    errors: list[str] = []
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal next_i
        while next_i < count:
            i = next_i
            next_i += 1
            try:
                sent = time.perf_counter()
                async with session.post(f"{server.url}/v1/instances",
                                        json={"name": f"bench-{i}",
                                              "command": ["sleep", "60"]}) as r:
                    body = await r.read()
                    latencies.append((time.perf_counter() - sent) * 1000)
                    if r.status != 201:
                        errors.append(f"{r.status}: {body[:200]!r}")
            except aiohttp.ClientError as e:
                errors.append(repr(e))

    first_ms = time.time() * 1000
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return first_ms, time.perf_counter() - t0, errors, latencies


def start_py_spy(pid: int, out_dir: Path, backend: str) -> list[subprocess.Popen[bytes]]:
    # the venv's bin is not always on PATH (``.venv/bin/python bench/processes.py``)
    py_spy = find_py_spy()
    if py_spy is None:
        print("  py-spy not found: pip install py-spy", file=sys.stderr)
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
        procs.append(subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--rate", "200", "--gil", "--format", fmt,
             "-o", str(out_dir / f"processes-{backend}.{suffix}")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL))
    return procs


def stop_py_spy(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def bench_backend(backend: str, args: argparse.Namespace) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix=f"corral-bench-proc-{backend}-"))
    pg_name = None
    server: Server | None = None
    agents: list[AgentProcess] = []
    spies: list[subprocess.Popen[bytes]] = []
    progress: Progress | None = None
    pg_cpu: PgBackendCpu | None = None
    try:
        db_url = None
        if backend == "postgresql":
            pg_name, db_url = await create_pg_database()
        server = Server(workdir, db_url)
        connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
        async with aiohttp.ClientSession(
                headers={"Authorization": basic(*server.auth)}, connector=connector,
                timeout=aiohttp.ClientTimeout(total=60)) as session:
            await server.start(session)
            assert server.proc is not None
            # at once: the pool's next look comes within a second of the agents' registration
            async with session.put(f"{server.url}/v1/settings/process.replay.interval.seconds",
                                   json={"value": "1"}) as r:
                assert r.status == 200, await r.text()
            regs = await register_agents(server, session, args.agents)
            agents = [AgentProcess(server, reg.access_key, reg.secret_key, f"1ag{reg.agent_id}")
                      for reg in regs]
            for a in agents:
                await a.wait_subscribed()
            progress = Progress(server.store_url)
            if pg_name:
                await asyncio.sleep(1.0)  # let the statistics collector settle (pg_stat)
                db_before = await pg_counters(pg_name)
                tables_before = await pg_table_reads(db_url or "")
                pg_cpu = PgBackendCpu(pg_name)
                await pg_cpu.open()
            if args.py_spy:
                spies = start_py_spy(server.proc.pid, args.py_spy, backend)
            cpu_before = cpu_seconds(server.proc.pid)
            load_before = os.getloadavg()[0]

            creating = asyncio.get_running_loop().create_task(
                create_instances(session, server, args.instances, args.concurrency))
            deadline = time.monotonic() + args.timeout
            # Every create commits its instance.create row; instance.create commits the
            # instance.start row as it ends: once the creates are answered, no unfinished
            # row left means every start has finished.
            while True:
                unfinished = await progress.unfinished()
                if pg_cpu is not None:
                    await pg_cpu.sample()
                if unfinished == 0 and creating.done():
                    break
                if time.monotonic() > deadline:
                    creating.cancel()
                    raise RuntimeError(f"[{backend}] {unfinished} processes unfinished "
                                       f"after {args.timeout:.0f} s")
                await asyncio.sleep(0.1)  # polling the process rows
            first_ms, creates_s, errors, latencies = await creating
            cpu = cpu_seconds(server.proc.pid) - cpu_before
            load_after = os.getloadavg()[0]
            stop_py_spy(spies)
            spies = []
            done, last_end, retried = await progress.starts()
            if done != args.instances:
                raise RuntimeError(f"[{backend}] {done} instance.start rows finished, "
                                   f"expected {args.instances}")
            running = await progress.running_instances()
            if running != args.instances:
                raise RuntimeError(f"[{backend}] {running} instances running, "
                                   f"expected {args.instances}")
            db: dict[str, float] = {}
            db_tables: dict[str, dict[str, float]] = {}
            if pg_name:
                await asyncio.sleep(1.0)
                after = await pg_counters(pg_name)
                tables_after = await pg_table_reads(db_url or "")
                for t, v in tables_after.items():
                    b = tables_before.get(t, {})
                    per = {k: round((v[k] - b.get(k, 0)) / args.instances, 2) for k in v}
                    if per["seq_tup_read"] + per["idx_tup_fetch"] >= 1:
                        db_tables[t] = per
                db = {f"{k}_per_instance": round((after[k] - db_before[k]) / args.instances, 2)
                      for k in ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated",
                                "tup_deleted", "tup_fetched", "tup_returned")}
        received = sum(a.stop().get("received", 0) for a in agents)
        agents = []
        assert last_end is not None
        e2e_s = max(1e-3, (last_end - first_ms) / 1000)
        n = args.instances
        return Result(
            backend=backend, instances=n, agents=args.agents, concurrency=args.concurrency,
            create_errors=len(errors), creates_s=round(creates_s, 3),
            creates_per_s=round(n / creates_s, 1),
            create_ms_p50=round(percentile(latencies, 50), 1),
            create_ms_p99=round(percentile(latencies, 99), 1), e2e_s=round(e2e_s, 3),
            starts_per_s=round(n / e2e_s, 1), process_rows_per_s=round(2 * n / e2e_s, 1),
            server_cpu_s=round(cpu, 2), server_cpu_ms_per_instance=round(cpu * 1000 / n, 2),
            server_cpu_ms_per_process=round(cpu * 1000 / (2 * n), 2),
            server_cpu_utilisation=round(cpu / e2e_s, 2), activates_received=received,
            retried_starts=retried, db=db, db_tables=db_tables, error_samples=errors[:3],
            db_cpu_ms_per_instance=None if pg_cpu is None
            else round(pg_cpu.seconds() * 1000 / n, 2),
            loadavg_before=round(load_before, 2), loadavg_after=round(load_after, 2))
    finally:
        stop_py_spy(spies)
        for a in agents:
            a.stop()
        if progress is not None:
            await progress.close()
        if pg_cpu is not None:
            await pg_cpu.close()
        if server is not None:
            server.stop()
            if server.proc is not None and server.proc.returncode not in (0, -15, None):
                print(f"  [{backend}] server exited {server.proc.returncode}; log:\n"
                      + server.log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
        if pg_name is not None:
            await drop_pg_database(pg_name)
        if args.keep:
            print(f"  [{backend}] kept {workdir} (server.log, data)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def print_table(results: list[Result]) -> None:
    head = (f"{'backend':<11}{'instances':>10}{'clients':>8}{'creates/s':>11}{'p50 ms':>8}"
            f"{'p99 ms':>8}"
            f"{'starts/s':>10}{'procs/s':>9}{'e2e s':>8}{'CPU ms/inst':>12}{'CPU ms/proc':>12}"
            f"{'CPU util':>9}{'tx/inst':>9}{'DB CPU ms/inst':>15}{'load':>11}{'errors':>7}")
    print(head)
    print("-" * len(head))
    for r in results:
        tx = r.db.get("xact_commit_per_instance")
        print(f"{r.backend:<11}{r.instances:>10}{r.concurrency:>8}{r.creates_per_s:>11.1f}"
              f"{r.create_ms_p50:>8.1f}{r.create_ms_p99:>8.1f}"
              f"{r.starts_per_s:>10.1f}{r.process_rows_per_s:>9.1f}{r.e2e_s:>8.1f}{r.server_cpu_ms_per_instance:>12.2f}"
              f"{r.server_cpu_ms_per_process:>12.2f}{r.server_cpu_utilisation:>9.2f}"
              f"{(f'{tx:.1f}' if tx is not None else '-'):>9}"
              f"{(f'{r.db_cpu_ms_per_instance:.2f}' if r.db_cpu_ms_per_instance is not None else '-'):>15}"
              f"{f'{r.loadavg_before:.1f}-{r.loadavg_after:.1f}':>11}{r.create_errors:>7}")


async def main_async(args: argparse.Namespace) -> list[Result]:
    results = []
    for backend in args.backends:
        print(f"== {backend}: {args.instances} instances, {args.agents} agent(s), "
              f"{args.concurrency} clients", flush=True)
        r = await bench_backend(backend, args)
        print(f"  creates {r.creates_per_s}/s, starts {r.starts_per_s}/s end to end "
              f"({r.process_rows_per_s} process rows/s), "
              f"server CPU {r.server_cpu_ms_per_instance} ms/instance "
              f"({r.server_cpu_utilisation:.0%} of a core)", flush=True)
        results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_agent"]:
        asyncio.run(agent_main(*argv[1:5]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="sqlite,postgresql",
                   type=lambda s: [b for b in s.split(",") if b],
                   help="comma-separated: sqlite, postgresql (default both)")
    p.add_argument("--instances", type=int, default=2000, help="per backend (default 2000)")
    p.add_argument("--agents", type=int, default=2, help="agent processes, one host each")
    p.add_argument("--concurrency", type=int, default=16, help="clients posting creates")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds a backend may take to finish every start")
    p.add_argument("--max-seconds", type=float, default=900.0,
                   help="hard limit for the whole run")
    p.add_argument("--keep", action="store_true",
                   help="keep the server's work directory (its log) instead of deleting it")
    p.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                   help="record the server with py-spy into DIR during the measured phase")
    p.add_argument("--out", type=Path, default=HERE / "results",
                   help="directory for processes-<date>.json")
    args = p.parse_args(argv)
    for b in args.backends:
        if b not in ("sqlite", "postgresql"):
            p.error(f"unknown backend {b!r}")

    started = datetime.now(UTC)
    try:
        results = asyncio.run(asyncio.wait_for(main_async(args), timeout=args.max_seconds))
    except TimeoutError:
        print(f"benchmark stopped: over --max-seconds={args.max_seconds}", file=sys.stderr)
        return 2
    print()
    print_table(results)
    out = write_results(args.out, "processes", started, {
        "instances": args.instances, "agents": args.agents, "concurrency": args.concurrency,
        "backends": args.backends}, results)
    print(f"\nwrote {out}")
    return 1 if any(r.create_errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
