"""Fuzzing the REST API from its own OpenAPI document: no request may get a 5xx answer.

schemathesis reads ``/v1/openapi.json`` of a fresh ``corral server`` (a subprocess on
SQLite, port chosen by the server) and sends, for every operation, the schema's examples,
its coverage cases (boundary and invalid values) and up to 25 generated requests,
deterministically, with the admin key. The only check is ``not_a_server_error``; a failure
carries the server's own log (its traceback) for that request.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error

from tests.conftest import TIMEOUT_FACTOR

MAX_EXAMPLES = 25


class ServerProcess:
    """``corral server`` in a subprocess; its output is collected line by line."""

    def __init__(self, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("CORRAL_ADMIN_ACCESS_KEY", "CORRAL_ADMIN_SECRET_KEY", "CORRAL_DB_URL")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "corral.cli", "server", "--port", "0",
             "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, text=True, errors="replace")
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url(timeout=30 * TIMEOUT_FACTOR)
        keys = dict(line.split("=", 1) for line in
                    (data_dir / "admin-key").read_text().split())
        self.auth = (keys["CATTLE_ACCESS_KEY"], keys["CATTLE_SECRET_KEY"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                for line in self.lines:
                    m = re.search(r"corral listening on (http://\S+)", line)
                    if m:
                        return m.group(1)
                left = deadline - time.monotonic()
                if self.proc.poll() is not None or left <= 0:
                    raise RuntimeError("corral server did not start:\n" + "\n".join(self.lines))
                self._new_line.wait(timeout=min(left, 0.5))

    def log_since(self, mark: int, *, wait_for: str = "Traceback", timeout: float = 2.0) -> str:
        """The log lines after ``mark``, once one contains ``wait_for`` (or after ``timeout``)."""
        deadline = time.monotonic() + timeout * TIMEOUT_FACTOR
        with self._new_line:
            while (not any(wait_for in line for line in self.lines[mark:])
                   and time.monotonic() < deadline and self.proc.poll() is None):
                self._new_line.wait(timeout=0.1)
            return "\n".join(line[:2000] for line in self.lines[mark:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)


@pytest.fixture(scope="module")
def corral_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(corral_server: ServerProcess) -> schemathesis.BaseSchema:
    access, secret = corral_server.auth
    config = schemathesis.Config.from_dict({
        "seed": 20261127,
        "request-timeout": 10 * TIMEOUT_FACTOR,
        "auth": {"basic": {"username": access, "password": secret}},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none"},
    })
    return schemathesis.openapi.from_url(f"{corral_server.url}/v1/openapi.json",
                                         config=config, auth=corral_server.auth, timeout=10)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def http(corral_server: ServerProcess) -> Iterator[requests.Session]:
    """One keep-alive session for all requests (a new connection per case doubles the time)."""
    with requests.Session() as session:
        session.auth = corral_server.auth
        yield session


@pytest.mark.timeout(600)  # every operation runs inside this one test
@schema.parametrize()
def test_no_request_gets_a_server_error(case: schemathesis.Case, corral_server: ServerProcess,
                                        http: requests.Session) -> None:
    mark = len(corral_server.lines)
    try:
        case.call_and_validate(session=http, checks=[not_a_server_error])
    except BaseException:  # schemathesis raises a FailureGroup (a BaseExceptionGroup)
        # schemathesis re-raises its own report (request, curl line); the server's side of
        # the story, its traceback, goes to the captured output of the failing test.
        print(f"server log for {case.method} {case.formatted_path}:\n"
              + corral_server.log_since(mark), file=sys.stderr)
        raise


def test_the_fuzzed_requests_are_authenticated_and_cover_the_api(
        api_schema: schemathesis.BaseSchema, http: requests.Session) -> None:
    """Guards against a vacuous pass: requests made like the fuzzer's get past auth."""
    paths = set(api_schema)
    assert {"/v1/apikeys", "/v1/apikeys/{id}", "/v1/projects", "/v1/settings",
            "/v1/settings/{id}"} <= paths
    response = api_schema["/v1/apikeys"]["GET"].Case().call(session=http)
    assert response.status_code == 200
    assert response.json()["resourceType"] == "apikey"
    case = api_schema["/v1/settings/{id}"]["GET"].Case(
        path_parameters={"id": "events.purge.after.seconds"})
    setting = case.call(session=http)
    assert setting.status_code == 200
    assert setting.json()["name"] == "events.purge.after.seconds"
