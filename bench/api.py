#!/usr/bin/env python
"""REST API throughput: authenticated ``GET /v1/apikeys`` (a 100-row page) and ``POST /v1/apikeys``.

For each backend (SQLite in a temporary data dir, then PostgreSQL in a fresh database
``corral_bench_<random>`` created through the ``test`` database and dropped afterwards) this
starts ``corral server`` as a subprocess on a free port of 127.0.0.1, creates 100 API keys,
then for each concurrency level runs that many aiohttp clients in a closed loop for a fixed
time, first listing the keys, then creating keys. It prints a table and writes the figures
to ``bench/results/api-<date>.json``. Every phase is bounded in time, the whole run has a
hard limit (``--max-seconds``), and all traffic goes to 127.0.0.1.

    python bench/api.py                      # both backends, 5 s per phase, 1 and 16 clients
    python bench/api.py --backends sqlite --duration 2 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from common import (
    LOOPBACK,
    create_pg_database,
    drop_pg_database,
    write_results,
)

HERE = Path(__file__).resolve().parent


@dataclass
class PhaseResult:
    backend: str
    operation: str
    concurrency: int
    duration_s: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    error_samples: list[str] = field(default_factory=list)


class Server:
    """``corral server`` in a subprocess, output to a log file in its temp dir."""

    def __init__(self, workdir: Path, db_url: str | None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "server.log"
        self.db_url = db_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.auth: tuple[str, str] = ("", "")

    async def start(self, timeout: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "corral.cli", "--log-level", "WARNING", "server",
               "--host", LOOPBACK, "--port", "0", "--data-dir", str(self.data_dir)]
        if self.db_url:
            cmd += ["--db", self.db_url]
        self.proc = self._spawn(cmd)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_text(errors="replace")
            m = re.search(r"corral listening on (http://\S+)", text)
            if m:
                self.url = m.group(1)
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"corral server did not start:\n{text}")
            await asyncio.sleep(0.05)  # polling the log for the listening line
        keys = dict(line.split("=", 1) for line in
                    (self.data_dir / "admin-key").read_text().split())
        self.auth = (keys["CATTLE_ACCESS_KEY"], keys["CATTLE_SECRET_KEY"])

    def _spawn(self, cmd: list[str]) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("CORRAL_ADMIN_ACCESS_KEY", "CORRAL_ADMIN_SECRET_KEY", "CORRAL_DB_URL")}
        with open(self.log_path, "wb") as log:
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def basic_auth(access: str, secret: str) -> str:
    encode = getattr(aiohttp, "encode_basic_auth", None)  # aiohttp >= 3.14
    if encode is not None:
        return str(encode(access, secret))
    return aiohttp.BasicAuth(access, secret).encode()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


async def run_phase(session: aiohttp.ClientSession, server: Server, backend: str,
                    operation: str, concurrency: int, duration: float) -> PhaseResult:
    url = f"{server.url}/v1/apikeys"
    latencies: list[float] = []
    errors: list[str] = []
    counter = 0
    deadline = time.monotonic() + duration

    async def one() -> None:
        nonlocal counter
        if operation == "list":
            async with session.get(url) as r:
                body = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"GET {r.status}: {body[:200]!r}")
                n = len(json.loads(body)["data"])
                if n != 100:
                    raise RuntimeError(f"GET returned {n} rows, expected 100")
        else:
            counter += 1
            async with session.post(url, json={"name": f"bench-{counter}"}) as r:
                body = await r.read()
                if r.status != 201:
                    raise RuntimeError(f"POST {r.status}: {body[:200]!r}")

    async def worker() -> None:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                await one()
            except Exception as e:  # noqa: BLE001 - counted and sampled, the run goes on
                errors.append(str(e))
                continue
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    lat = sorted(x * 1000 for x in latencies)
    return PhaseResult(
        backend=backend, operation=operation, concurrency=concurrency,
        duration_s=round(elapsed, 3), requests=len(lat), errors=len(errors),
        rps=round(len(lat) / elapsed, 1),
        p50_ms=round(statistics.median(lat), 2) if lat else 0.0,
        p95_ms=round(percentile(lat, 95), 2), p99_ms=round(percentile(lat, 99), 2),
        max_ms=round(lat[-1], 2) if lat else 0.0, error_samples=errors[:3])


async def seed_keys(session: aiohttp.ClientSession, server: Server, count: int) -> None:
    """Make the admin's key list exactly ``count`` + 1 rows long (admin key included)."""
    sem = asyncio.Semaphore(4)

    async def make(i: int) -> None:
        async with sem, session.post(f"{server.url}/v1/apikeys",
                                     json={"name": f"seed-{i}"}) as r:
            if r.status != 201:
                raise RuntimeError(f"seeding key {i}: {r.status} {await r.text()}")

    await asyncio.gather(*(make(i) for i in range(count)))


async def bench_backend(backend: str, args: argparse.Namespace) -> list[PhaseResult]:
    workdir = Path(tempfile.mkdtemp(prefix=f"corral-bench-{backend}-"))
    pg_name = None
    server: Server | None = None
    try:
        db_url = None
        if backend == "postgresql":
            pg_name, db_url = await create_pg_database()
        server = Server(workdir, db_url)
        await server.start()
        connector = aiohttp.TCPConnector(limit=max(args.concurrency) + 4)
        timeout = aiohttp.ClientTimeout(total=30)
        headers = {"Authorization": basic_auth(*server.auth)}
        async with aiohttp.ClientSession(headers=headers, connector=connector,
                                         timeout=timeout) as session:
            t0 = time.perf_counter()
            await seed_keys(session, server, args.keys)
            print(f"  [{backend}] server {server.url}: created {args.keys} keys in "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)
            results = []
            for operation in ("list", "create"):  # creates last: lists must see 100 rows
                for c in args.concurrency:
                    r = await run_phase(session, server, backend, operation, c, args.duration)
                    print(f"  [{backend}] {operation:6} c={c:<3} {r.rps:>8.1f} req/s  "
                          f"p50 {r.p50_ms:.1f} ms  p99 {r.p99_ms:.1f} ms  errors {r.errors}",
                          flush=True)
                    results.append(r)
        return results
    finally:
        if server is not None:
            server.stop()
            if server.proc is not None and server.proc.returncode not in (0, -15, None):
                print(f"  [{backend}] server exited {server.proc.returncode}; log:\n"
                      + server.log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
        if pg_name is not None:
            await drop_pg_database(pg_name)
        shutil.rmtree(workdir, ignore_errors=True)


def print_table(results: list[PhaseResult]) -> None:
    head = (f"{'backend':<11}{'operation':<22}{'clients':>8}{'req/s':>10}{'p50 ms':>9}"
            f"{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    print(head)
    print("-" * len(head))
    names = {"list": "GET /v1/apikeys", "create": "POST /v1/apikeys"}
    for r in results:
        print(f"{r.backend:<11}{names[r.operation]:<22}{r.concurrency:>8}{r.rps:>10.1f}"
              f"{r.p50_ms:>9.1f}{r.p95_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}")


async def main_async(args: argparse.Namespace) -> list[PhaseResult]:
    results: list[PhaseResult] = []
    for backend in args.backends:
        print(f"== {backend}", flush=True)
        results += await bench_backend(backend, args)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="sqlite,postgresql",
                   type=lambda s: [b for b in s.split(",") if b],
                   help="comma-separated: sqlite, postgresql (default both)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per phase (default 5)")
    p.add_argument("--concurrency", default="1,16",
                   type=lambda s: [int(c) for c in s.split(",") if c],
                   help="comma-separated client counts (default 1,16)")
    p.add_argument("--keys", type=int, default=100, help="keys created before measuring")
    p.add_argument("--max-seconds", type=float, default=600.0,
                   help="hard limit for the whole run")
    p.add_argument("--out", type=Path, default=HERE / "results",
                   help="directory for api-<date>.json")
    args = p.parse_args(argv)
    for b in args.backends:
        if b not in ("sqlite", "postgresql"):
            p.error(f"unknown backend {b!r}")
    if args.keys != 100:
        print("note: the list phase expects 100 rows; with --keys != 100 it counts errors")

    started = datetime.now(UTC)
    try:
        results = asyncio.run(asyncio.wait_for(main_async(args), timeout=args.max_seconds))
    except TimeoutError:
        print(f"benchmark stopped: over --max-seconds={args.max_seconds}", file=sys.stderr)
        return 2
    print()
    print_table(results)
    out = write_results(args.out, "api", started, {
        "duration_s": args.duration, "concurrency": args.concurrency, "keys": args.keys,
        "backends": args.backends}, results)
    print(f"\nwrote {out}")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
