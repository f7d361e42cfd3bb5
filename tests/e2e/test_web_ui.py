"""The web UI in a real browser: Debian's chromium driven by Playwright, against a real
server (in this test's event loop) and a real agent over a real WebSocket: the scripted one
(which can be paused: it then withholds its replies) or a ``corral agent`` subprocess.

Every page visited is saved as a screenshot under ``artifacts/screenshots/``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TIMEOUT_FACTOR
from tests.conftest import eventually as shared_eventually
from tests.scripted_agent import Reply, ScriptedAgent, succeed

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("CORRAL_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
FAST = {"eventing.timeout.millis": "500", "process.retry_max_wait.millis": "300",
        "process.replay.interval.seconds": "1"}
WAIT_MS = 15_000 * TIMEOUT_FACTOR

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - CI installs it (.ci/run)
    if os.environ.get("CI"):
        raise
    pytest.skip("the playwright package is not installed (pip install playwright)",
                allow_module_level=True)
if not CHROMIUM.exists():  # pragma: no cover
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)


# ------------------------------------------------------------------ fixtures


@dataclass
class Web:
    server: Any
    url: str
    admin: tuple[str, str]
    api: httpx.AsyncClient
    project: dict[str, Any]

    @property
    def scoped(self) -> str:
        return f"/v1/projects/{self.project['id']}"


@pytest.fixture
async def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Web]:
    from corral.server.app import CorralServer, ServerConfig

    monkeypatch.delenv("CORRAL_ADMIN_ACCESS_KEY", raising=False)
    monkeypatch.delenv("CORRAL_ADMIN_SECRET_KEY", raising=False)
    srv = CorralServer(ServerConfig(port=0, data_dir=tmp_path / "data"))
    await srv.start()
    try:
        admin = (srv.admin_key.access_key, srv.admin_key.secret_key)
        async with httpx.AsyncClient(base_url=srv.url, auth=admin,
                                     timeout=10 * TIMEOUT_FACTOR) as api:
            for name, value in FAST.items():
                r = await api.put(f"/v1/settings/{name}", json={"value": value})
                assert r.status_code == 200, r.text
            project = (await api.get("/v1/projects")).json()["data"][0]
            yield Web(srv, srv.url, admin, api, project)
    finally:
        await srv.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


EXPECTED_CONSOLE = re.compile(r"Failed to load resource: the server responded with a status "
                              r"of 4(01|22)")


class PageErrors(list[str]):
    def check(self) -> None:
        assert not self, f"errors in the page: {list(self)}"


async def new_page(browser: Browser, errors: PageErrors) -> Page:
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    # chromium logs every 4xx answer (a refused key, a refused setting value), which the
    # page then shows; any other error in the console is a bug
    page.on("console", lambda m: errors.append(f"console: {m.text}")
            if m.type == "error" and not EXPECTED_CONSOLE.search(m.text) else None)
    return page


@pytest.fixture
async def page(browser: Browser, web: Web) -> AsyncIterator[Page]:
    errors = PageErrors()
    p = await new_page(browser, errors)
    try:
        yield p
    finally:
        await p.context.close()
    errors.check()


class Pausable:
    """A scripted agent's policy: while paused it withholds every reply to compute.*."""

    def __init__(self) -> None:
        self.paused = False

    def __call__(self, event: dict[str, Any]) -> Reply | None:
        if self.paused and event["name"].startswith("compute."):
            return None
        return succeed(event)


@pytest.fixture
async def scripted(web: Web) -> AsyncIterator[tuple[ScriptedAgent, Pausable, str]]:
    """A registered host whose agent is the scripted one; yields (agent, control, host id)."""
    from corral.resources.agents import register_agent

    async with web.server.services.store.tx() as conn:
        reg = await register_agent(conn, project_id=int(web.project["id"][2:]), hostname="h1",
                                   server_id="test")
    web.server.services.wake_engine()
    control = Pausable()
    async with ScriptedAgent(web.url, reg.access_key, reg.secret_key, reg.agent_id,
                             control) as agent:
        host = f"1h{reg.host_id}"
        await eventually(lambda: state_is(web.api, f"{web.scoped}/hosts/{host}", "active"))
        yield agent, control, host


# waits here go through a browser: a longer default than the shared helper's
eventually = functools.partial(shared_eventually, timeout=15.0)


async def state_is(api: httpx.AsyncClient, url: str, state: str) -> dict[str, Any] | None:
    body = (await api.get(url)).json()
    return body if body.get("state") == state and body.get("transitioning") == "no" else None


async def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def sign_in(page: Page, web: Web, auth: tuple[str, str] | None = None) -> None:
    access, secret = auth or web.admin
    await page.goto(web.url + "/")
    await page.fill("#access-key", access)
    await page.fill("#secret-key", secret)
    await page.click("#sign-in")
    await expect(page.locator("#topbar")).to_be_visible()
    await expect(page.locator("#live-status")).to_have_attribute("data-status", "live")


async def go(page: Page, nav: str) -> None:
    """Follow a link of the main navigation, as a person would."""
    await page.locator("#nav").get_by_role("link", name=nav, exact=True).click()
    await expect(page.locator("main h1")).to_contain_text(nav.split(" ")[0])


def row(page: Page, key: str) -> Any:
    return page.locator(f'tr[data-key="{key}"]')


async def project_key(web: Web, name: str = "viewer") -> tuple[str, str]:
    r = await web.api.post(f"{web.scoped}/apikeys", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["publicValue"], r.json()["secretValue"]


# ------------------------------------------------------------------ tests


async def test_the_ui_is_served_at_the_root_without_a_key(web: Web) -> None:
    async with httpx.AsyncClient(base_url=web.url) as anon:
        r = await anon.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="app.js">' in r.text
        assert "'self'" in r.headers["content-security-policy"]
        for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css"),
                           ("processes.js", "text/javascript")):
            r = await anon.get(f"/{name}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind), name
        assert (await anon.get("/nope.js")).status_code == 404
        assert (await anon.get("/%2e%2e/server/app.py")).status_code == 404
        assert (await anon.get("/v1")).status_code == 401  # the API still wants a key
        assert (await anon.get("/ping")).text == "pong"


async def test_sign_in_keeps_the_key_in_this_tab_only(
        browser: Browser, page: Page, web: Web) -> None:
    await page.goto(web.url + "/")
    await expect(page.locator("#access-key")).to_be_focused()
    await shot(page, "sign-in")
    await page.fill("#access-key", web.admin[0])
    await page.fill("#secret-key", "wrong-secret")
    await page.click("#sign-in")
    await expect(page.locator("#signin-error")).to_contain_text("not accepted")

    await page.fill("#secret-key", web.admin[1])
    await page.press("#secret-key", "Enter")
    await expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    await expect(page.locator("#whoami")).to_contain_text("admin")
    await expect(page.locator("main h1")).to_have_text("Processes")
    stored = await page.evaluate("[sessionStorage.getItem('corral.session'), localStorage.length,"
                                 " document.cookie]")
    assert web.admin[1] in stored[0] and stored[1] == 0 and stored[2] == ""

    await page.reload()  # same tab: still signed in
    await expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    errors = PageErrors()
    other = await new_page(browser, errors)  # another browser session: not signed in
    await other.goto(web.url + "/")
    await expect(other.locator("#access-key")).to_be_visible()
    await other.context.close()
    errors.check()

    await page.click("#sign-out")
    await expect(page.locator("#access-key")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('corral.session')") is None


async def test_a_start_on_a_paused_agent_is_watched_live_from_running_to_completed(
        page: Page, web: Web, scripted: tuple[ScriptedAgent, Pausable, str]) -> None:
    agent, control, _ = scripted
    control.paused = True
    await sign_in(page, web)
    await go(page, "Instances")
    await page.fill("#new-instance-name", "web")
    await page.fill("#new-instance-command", "sleep 60")
    await page.click("#create-instance")
    notice = page.locator("#instance-notice")
    await expect(notice).to_contain_text("Created instance web")
    inst = (await web.api.get(f"{web.scoped}/instances", params={"name": "web"})).json()["data"][0]
    await expect(row(page, inst["id"]).locator("td.state")).to_contain_text("starting")
    await shot(page, "instances-starting")

    # the start process: it waits for a reply that does not come, times out, is tried again
    async def start_process() -> dict[str, Any] | None:
        data = (await web.api.get(f"{web.scoped}/processinstances", params={
            "processName": "instance.start", "resourceId": inst["id"][2:]})).json()["data"]
        return data[0] if data else None
    pid = (await eventually(start_process))["id"]

    await go(page, "Processes")
    await expect(page.locator('.tabs a[data-tab="running"]')).to_have_attribute(
        "aria-current", "page")
    await expect(row(page, pid)).to_be_visible()
    await expect(row(page, pid)).to_contain_text("instance.start")
    await expect(row(page, pid)).to_contain_text(inst["id"])
    await attempts_at_least(page, pid, 3)
    await shot(page, "processes-running")
    assert len(agent.commands("compute.instance.activate")) >= 3

    # a longer backoff: the process waits seconds for its next attempt, under Delayed
    r = await web.api.put("/v1/settings/process.retry_max_wait.millis", json={"value": "4000"})
    assert r.status_code == 200
    await page.locator('.tabs a[data-tab="delayed"]').click()
    await expect(page.locator('.tabs a[data-tab="delayed"]')).to_have_attribute(
        "aria-current", "page")
    await expect(row(page, pid)).to_be_visible()
    await expect(row(page, pid)).to_contain_text(re.compile(r"in \d"))  # next attempt: in 2.4 s
    await expect(page.locator('.tabs a[data-tab="delayed"] .count')).to_have_text("(1)")
    await shot(page, "processes-delayed")

    # resume the agent: the next attempt gets its reply; the process completes
    control.paused = False
    await web.api.put("/v1/settings/process.retry_max_wait.millis", json={"value": "300"})
    await page.locator('.tabs a[data-tab="completed"]').click()
    await expect(row(page, pid)).to_be_visible()
    await expect(row(page, pid)).to_contain_text("DONE")
    await expect(row(page, pid)).to_contain_text("SUCCESS")
    attempts = int(await row(page, pid).locator("td.attempts").inner_text())
    assert attempts >= 4
    await shot(page, "processes-completed")

    await go(page, "Instances")
    await expect(row(page, inst["id"]).locator("td.state")).to_have_text("running")
    await shot(page, "instances-running")

    # the timeline of the process: attempts, the events sent, the timeouts, the reply
    await go(page, "Processes")
    await page.locator('.tabs a[data-tab="completed"]').click()
    await row(page, pid).locator("a.process-link").click()
    await expect(page.locator("main h1")).to_contain_text("instance.start")
    await expect(page.locator(".facts .attempts")).to_have_text(str(attempts))
    await expect(page.locator("section.attempt").last).to_contain_text("DONE")
    assert await page.locator(".track .bar").count() >= 2
    assert await page.locator(".entry.event").count() >= 2
    assert await page.locator(".entry.timeout").count() >= 1
    await expect(page.locator("section.attempt").first).to_contain_text("TIMEOUT")
    await expect(page.locator("section.attempt").last.locator(".entry.reply")).to_have_count(1)
    await expect(page.locator("section.attempt").last).to_contain_text("starting → running")
    await shot(page, "process-timeline", full_page=True)


async def attempts_at_least(page: Page, pid: str, n: int) -> None:
    await page.wait_for_function(
        """([pid, n]) => {
             const td = document.querySelector(`tr[data-key="${pid}"] td.attempts`);
             return td !== null && Number(td.textContent) >= n;
           }""", arg=[pid, n], timeout=WAIT_MS)


async def test_filters_and_replay_on_processes(
        page: Page, web: Web, scripted: tuple[ScriptedAgent, Pausable, str]) -> None:
    _, control, _ = scripted
    control.paused = True
    # backoff min(max wait, 2 s + 2^(n-1) x 100 ms): seconds between attempts
    await web.api.put("/v1/settings/process.retry_max_wait.millis", json={"value": "60000"})
    first = (await web.api.post(f"{web.scoped}/instances", json={"name": "a"})).json()
    second = (await web.api.post(f"{web.scoped}/stacks", json={"name": "s1"})).json()
    await sign_in(page, web)

    async def start_process() -> dict[str, Any] | None:
        data = (await web.api.get(f"{web.scoped}/processinstances", params={
            "processName": "instance.start", "resourceId": first["id"][2:]})).json()["data"]
        return data[0] if data else None
    pid = (await eventually(start_process))["id"]
    await page.locator('.tabs a[data-tab="delayed"]').click()
    await attempts_at_least(page, pid, 2)

    # filters: by process name (prefix) and by resource (an id, a type or both)
    await page.fill("#filter-name", "stack.")
    await expect(row(page, pid)).to_have_count(0)
    await page.fill("#filter-name", "instance.st")
    await page.fill("#filter-resource", second["id"])
    await expect(row(page, pid)).to_have_count(0)
    await page.fill("#filter-resource", f"instance {first['id']}")
    await attempts_at_least(page, pid, 2)
    assert "resource=instance" in page.url and "name=instance.st" in page.url
    await shot(page, "processes-filtered")

    # replay (admins only): the attempt count starts again and it runs now
    before = (await web.api.get(f"{web.scoped}/processinstances/{pid}")).json()
    assert before["executionCount"] >= 2
    await row(page, pid).get_by_role("button", name=re.compile("^Replay")).click()
    await expect(page.locator(".inline-notice")).to_contain_text("will run again now")

    async def restarted() -> bool:
        now = (await web.api.get(f"{web.scoped}/processinstances/{pid}")).json()
        return now["executionCount"] < before["executionCount"]
    await eventually(restarted)
    await page.fill("#filter-name", "")
    await page.fill("#filter-resource", "")


async def test_a_process_past_its_overall_timeout_shows_under_failed(
        page: Page, web: Web, scripted: tuple[ScriptedAgent, Pausable, str]) -> None:
    _, control, _ = scripted
    control.paused = True
    r = await web.api.put("/v1/settings/process.instance.start.timeout.seconds",
                          json={"value": "1"})
    assert r.status_code == 200, r.text
    await sign_in(page, web)
    await page.locator('.tabs a[data-tab="failed"]').click()
    await expect(page.locator("table.data tr.empty")).to_contain_text("No failed processes")
    inst = (await web.api.post(f"{web.scoped}/instances", json={"name": "doomed"})).json()
    failed = page.locator("table.data tbody tr:not(.empty)", has_text="instance.start")
    await expect(failed).to_contain_text("FAILURE")
    await expect(failed).to_contain_text(inst["id"])
    await shot(page, "processes-failed")
    await failed.locator("a.process-link").click()
    await expect(page.locator(".facts")).to_contain_text("failed")
    await expect(page.locator("section.attempt").last).to_contain_text("TIMEOUT")
    await page.locator(".facts").get_by_role("link", name=re.compile(inst["id"])).click()
    await expect(page.locator(".facts")).to_contain_text("error")


async def test_settings_are_edited_by_admins_and_take_effect(
        browser: Browser, page: Page, web: Web) -> None:
    await sign_in(page, web)
    await go(page, "Settings")
    name = "process.replay.interval.seconds"
    await page.fill("#settings-filter", "process.replay")
    await expect(row(page, name)).to_be_visible()
    await expect(page.locator("table.data tbody tr:not(.empty)")).to_have_count(1)
    value = row(page, name).locator("input.setting-value")
    await expect(value).to_have_value("1")

    await value.fill("abc")
    await value.press("Enter")
    await expect(row(page, name).locator(".row-status")).to_contain_text("integer")
    await value.fill("7")
    await value.press("Enter")
    await expect(row(page, name).locator(".row-status")).to_contain_text("in force: 7")
    await shot(page, "settings")
    body = (await web.api.get(f"/v1/settings/{name}")).json()
    assert body["value"] == "7" and body["source"] == "Database"
    assert web.server.services.settings.get_seconds(name) == 7.0  # in force, no restart

    # a project key may look but not change
    errors = PageErrors()
    viewer = await new_page(browser, errors)
    await sign_in(viewer, web, await project_key(web))
    await expect(viewer.locator("#whoami")).to_contain_text("project key")
    await go(viewer, "Settings")
    await expect(viewer.locator(".lede")).to_contain_text("only an admin key")
    await expect(viewer.locator("input.setting-value")).to_have_count(0)
    await shot(viewer, "settings-read-only")
    await viewer.context.close()
    errors.check()


async def test_an_api_key_shows_its_secret_once_and_works(page: Page, web: Web) -> None:
    await sign_in(page, web)
    await go(page, "API keys")
    await page.fill("#new-key-name", "ci")
    await page.fill("#new-key-description", "for the pipeline")
    await page.click("#create-key")
    callout = page.locator(".secret-callout")
    await expect(callout).to_contain_text("shown only this once")
    access = await page.locator("#created-access-key").input_value()
    secret = await page.locator("#created-secret-key").input_value()
    assert re.fullmatch(r"[0-9A-F]{20}", access) and len(secret) == 40
    await expect(page.locator("table.data")).to_contain_text(access)
    await shot(page, "apikeys-created")
    async with httpx.AsyncClient(base_url=web.url, auth=(access, secret)) as c:
        assert (await c.get(f"{web.scoped}/instances")).status_code == 200
    await page.click("#dismiss-secret")
    await expect(callout).to_have_count(0)
    assert secret not in await page.content()
    await shot(page, "apikeys")


async def test_events_tail_resource_changes_with_a_filter(page: Page, web: Web) -> None:
    await sign_in(page, web)
    await go(page, "Stacks & services")
    await page.fill("#new-stack-name", "frontend")
    await page.press("#new-stack-name", "Enter")
    await expect(page.locator("table.data").first).to_contain_text("frontend")
    stack = (await web.api.get(f"{web.scoped}/stacks")).json()["data"][0]
    await expect(row(page, stack["id"])).to_contain_text("active")
    await shot(page, "stacks")

    await go(page, "Events")
    await expect(page.locator('tr[data-type="stack"]').first).to_be_visible()  # kept history
    r = await web.api.post(f"{web.scoped}/stacks", json={"name": "backend"})
    assert r.status_code == 201
    backend = page.locator(f'tr[data-id="{r.json()["id"]}"]')
    await expect(backend.first).to_be_visible()  # live
    await expect(backend.last).to_contain_text("active")
    await page.fill("#events-filter", "instance")
    await expect(backend).to_have_count(0)
    await page.fill("#events-filter", "backend")
    await expect(backend.first).to_be_visible()
    others = f'tr[data-type="stack"]:not([data-id="{r.json()["id"]}"])'
    await expect(page.locator(others)).to_have_count(0)
    await page.fill("#events-filter", "")
    await shot(page, "events")


async def test_the_project_switcher_scopes_every_page(page: Page, web: Web) -> None:
    r = await web.api.post("/v1/projects", json={"name": "Staging"})
    assert r.status_code == 201, r.text
    staging = r.json()
    assert (await web.api.post(f"/v1/projects/{staging['id']}/stacks",
                               json={"name": "only-in-staging"})).status_code == 201
    assert (await web.api.post(f"{web.scoped}/stacks", json={"name": "only-in-default"})
            ).status_code == 201
    await sign_in(page, web)
    select = page.locator("#project-select")
    await expect(select.locator("option")).to_have_count(2)
    await go(page, "Stacks & services")
    await expect(page.locator("table.data").first).to_contain_text("only-in-default")
    await select.select_option(staging["id"])
    await expect(page.locator("table.data").first).to_contain_text("only-in-staging")
    await expect(page.locator("table.data").first).not_to_contain_text("only-in-default")
    await expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    assert staging["id"] in await page.evaluate("sessionStorage.getItem('corral.session')")
    # the live stream follows the project: a change in Staging shows, one in Default does not
    await go(page, "Events")
    await web.api.post(f"{web.scoped}/stacks", json={"name": "default-2"})
    await web.api.post(f"/v1/projects/{staging['id']}/stacks", json={"name": "staging-2"})
    await expect(page.locator("#events-status")).to_contain_text("stream live")
    await expect(page.locator("table.events")).to_contain_text("staging-2")
    await expect(page.locator("table.events")).not_to_contain_text("default-2")
    await shot(page, "events-staging")


async def test_keyboard_only(page: Page, web: Web) -> None:
    await page.goto(web.url + "/")
    await page.keyboard.type(web.admin[0])
    await page.keyboard.press("Tab")
    await page.keyboard.type(web.admin[1])
    await page.keyboard.press("Enter")
    await expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    # Tab through the page until the Instances link of the navigation has the focus
    for _ in range(30):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("[document.activeElement.textContent,"
                                      " getComputedStyle(document.activeElement).outlineStyle]")
        if focused[0] == "Instances":
            break
    else:
        pytest.fail("Tab never reached the Instances link")
    assert focused[1] != "none"  # a visible focus ring
    await page.keyboard.press("Enter")
    await expect(page.locator("main h1")).to_have_text("Instances")
    await expect(page.locator("main h1")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.locator("#new-instance-name")).to_be_focused()


# ------------------------------------------------------------------ a real `corral agent`


class AgentSubprocess:
    def __init__(self, url: str, token: str, data_dir: Path) -> None:
        self.log = data_dir.parent / "agent.log"
        argv = [sys.executable, "-m", "corral.cli", "agent", "--url", url, f"--token={token}",
                "--data-dir", str(data_dir), "--hostname", "node-1", "--log-file", str(self.log)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        self.out = open(data_dir.parent / "agent.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, env=env)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()


async def test_a_real_agent_runs_an_instance_started_and_stopped_from_the_ui(
        page: Page, web: Web, tmp_path: Path) -> None:
    await web.api.put("/v1/settings/eventing.timeout.millis", json={"value": "10000"})
    token = (await web.api.post(f"{web.scoped}/registrationtokens", json={})).json()["token"]
    agent = AgentSubprocess(web.url, token, tmp_path / "agent")
    pid_of_instance: int | None = None
    try:
        await sign_in(page, web)
        await go(page, "Hosts")
        await expect(page.locator("#register-command")).to_contain_text("corral agent --url")
        host_row = page.locator("table.data tbody tr", has_text="node-1")
        await expect(host_row.locator("td.agent-state")).to_have_text("active")
        await expect(host_row).to_contain_text("active")
        await shot(page, "hosts")

        await go(page, "Instances")
        await page.fill("#new-instance-name", "sleeper")
        await page.fill("#new-instance-command",
                        f'{sys.executable} -c "import time; time.sleep(30)"')
        await page.click("#create-instance")
        inst = await eventually(lambda: _one(web, "instances", "sleeper"))
        line = row(page, inst["id"])
        await expect(line.locator("td.state")).to_have_text("running")
        await expect(line).to_contain_text("node-1")
        running = (await web.api.get(f"{web.scoped}/instances/{inst['id']}")).json()
        pid_of_instance = int(running["externalId"])
        assert b"time.sleep(30)" in Path(f"/proc/{pid_of_instance}/cmdline").read_bytes()

        await line.get_by_role("button", name=re.compile("^Stop")).click()
        link = page.locator("#instance-notice a")
        await expect(link).to_contain_text("instance.stop")
        await expect(line.locator("td.state")).to_have_text("stopped")
        await shot(page, "instances-stopped")
        await link.click()  # the process the button started
        await expect(page.locator("main h1")).to_contain_text("instance.stop")
        await expect(page.locator(".facts")).to_contain_text("completed")
        await expect(page.locator(".entry.event")).to_contain_text("compute.instance.deactivate")
        await expect(page.locator(".entry.reply")).to_have_count(1)
        await shot(page, "process-stop-timeline")
        assert not _alive(pid_of_instance)

        await page.locator(".facts").get_by_role("link", name=re.compile(inst["id"])).click()
        await expect(page.locator("main h1")).to_contain_text("sleeper")  # the instance
        await expect(page.locator(".facts")).to_contain_text("stopped")
        await expect(page.locator("table.data")).to_contain_text("instance.stop")
        await expect(page.locator('.actions-row button[data-action="start"]')).to_be_enabled()
        await shot(page, "instance-detail")

        await go(page, "Instances")
        remove = row(page, inst["id"]).locator('button[data-action="remove"]')
        await remove.click()
        await expect(remove).to_have_text("Confirm")
        await remove.click()
        await expect(row(page, inst["id"]).locator("td.state")).to_have_text("removed")
    finally:
        agent.stop()
        if pid_of_instance is not None and _alive(pid_of_instance):
            with contextlib.suppress(OSError):
                os.killpg(pid_of_instance, signal.SIGKILL)


async def _one(web: Web, plural: str, name: str) -> dict[str, Any] | None:
    data = (await web.api.get(f"{web.scoped}/{plural}", params={"name": name})).json()["data"]
    return data[0] if data else None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
