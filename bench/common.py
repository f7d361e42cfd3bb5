"""What the benchmark scripts share: the machine's description, free ports, and a fresh
PostgreSQL database per run (created through ``CORRAL_BENCH_PG_URL``, dropped after)."""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
PG_ADMIN_URL = os.environ.get("CORRAL_BENCH_PG_URL", "postgresql://root@127.0.0.1/test")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        if m:
            model = m.group(1).strip()
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "kernel": platform.release()}


def py_spy() -> str | None:
    """The py-spy executable: on PATH or beside this Python (a venv's bin)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


async def create_pg_database() -> tuple[str, str]:
    """A new empty database: (its name, its URL)."""
    import asyncpg

    name = f"corral_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def write_results(out_dir: Path, benchmark: str, started: datetime, settings: dict[str, Any],
                  results: list[Any]) -> Path:
    """``<out_dir>/<benchmark>-<date>.json`` with the machine, the settings and the results
    (dataclasses); returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{benchmark}-{started.date().isoformat()}.json"
    out.write_text(json.dumps({
        "benchmark": benchmark, "started": started.isoformat(), "machine": machine(),
        "settings": settings, "results": [asdict(r) for r in results],
    }, indent=2) + "\n")
    return out
