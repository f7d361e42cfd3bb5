"""The corral server: aiohttp application, middlewares, start-up and shutdown."""

from __future__ import annotations

import gc
import logging
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from aiohttp import web

from corral.bus import Bus
from corral.engine.agentping import AgentPinger
from corral.engine.pool import ProcessPool
from corral.engine.purge import PurgeTask
from corral.errors import ApiError, ProtocolError
from corral.resources import default_registry
from corral.resources.settings import SettingsService
from corral.server.auth import Authenticator
from corral.server.bootstrap import AdminKey, bootstrap
from corral.server.changes import ChangePublisher
from corral.server.rest import (
    MAX_BODY,
    PRINCIPAL_KEY,
    SERVICES,
    handle_register,
    handle_v1,
    json_response,
)
from corral.server.services import Services
from corral.server.websocket import PingTicker, browser_authorization
from corral.store import Store, normalize_url
from corral.store.eventlog import StoreEventLog

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed",
               413: "MaxLengthExceeded", 415: "InvalidBodyContent"}


def error_response(e: ApiError) -> web.Response:
    headers = {"WWW-Authenticate": 'Basic realm="corral"'} if e.status == 401 else None
    return json_response(e.to_json(), status=e.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e)
    except ProtocolError as e:
        return error_response(ApiError(e.message, status=422, code="InvalidFormat",
                                       field_name=e.field_name))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = _HTTP_CODES.get(e.status, "BadRequest" if e.status < 500 else "ServerError")
        return error_response(ApiError(e.reason, status=e.status, code=code))
    except sqlalchemy.exc.IntegrityError as e:
        log.info("conflict on %s %s: %s", request.method, request.path, e.orig)
        return error_response(ApiError("the change conflicts with existing data", status=409,
                                       code="Conflict"))
    except Exception:
        log.exception("error serving %s %s", request.method, request.path)
        return error_response(ApiError("internal server error", status=500))


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if (request.path == "/v1" or request.path.startswith("/v1/")) and \
            request.path != "/v1/register":
        services = request.app[SERVICES]
        request[PRINCIPAL_KEY] = await services.auth.authenticate(
            request.headers.get("Authorization") or browser_authorization(request))
    return await handler(request)


async def handle_ping(request: web.Request) -> web.Response:
    return web.Response(text="pong")


# The web UI (docs/ui.md): static files, no login needed to load them (the API checks keys).
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
_WEB_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
              ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
              ".ico": "image/x-icon"}
_WEB_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
}


async def handle_web(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name") or "index.html"
    path = WEB_DIR / name
    kind = _WEB_TYPES.get(path.suffix)
    if kind is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={**_WEB_HEADERS, "Content-Type": kind})


@dataclass(slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=lambda: Path("./data"))
    db_url: str | None = None
    db_schema: str | None = None  # PostgreSQL only: keep the tables in this schema


class CorralServer:
    """Owns the store, the services and the HTTP site. ``await start()``, ``await stop()``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.server_id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.app = web.Application(middlewares=[error_middleware, auth_middleware],
                                   client_max_size=MAX_BODY)
        self.runner: web.AppRunner | None = None
        self.admin_key: AdminKey | None = None
        self.port: int | None = None
        self.services: Services | None = None
        self.changes: ChangePublisher | None = None

    @property
    def url(self) -> str:
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(normalize_url(cfg.db_url, data_dir=cfg.data_dir), schema=cfg.db_schema)
        await store.migrate()
        settings = SettingsService(store)
        await settings.load()
        auth = Authenticator(store, cache_seconds=lambda: settings.get_seconds(
            "api.auth.cache.seconds"))
        self.services = services = Services(store=store, settings=settings,
                                            registry=default_registry(), auth=auth,
                                            server_id=self.server_id)
        self.admin_key = await bootstrap(store, data_dir=cfg.data_dir)
        event_log = StoreEventLog(store)
        services.bus = Bus(log=event_log)
        services.bus.last_seq = await event_log.last_seq()
        services.pinger = PingTicker(settings)
        services.pinger.start()
        services.root_url = lambda: settings.get("api.url").rstrip("/") or f"{self.url}/v1"
        self.changes = ChangePublisher(services, services.bus, root_url=services.root_url)
        services.change_listeners.append(self.changes.on_change)
        services.engine = ProcessPool(services, server_id=self.server_id)
        services.engine.start()
        self.purge = PurgeTask(services, event_log=event_log)
        self.purge.start()
        self.agent_pinger = AgentPinger(services)
        self.agent_pinger.start()
        app = self.app
        app[SERVICES] = services
        app.router.add_get("/ping", handle_ping)
        app.router.add_post("/v1/register", handle_register)
        app.router.add_route("*", "/v1{tail:(/.*)?}", handle_v1)
        app.router.add_get("/", handle_web)
        app.router.add_get(r"/{name:[A-Za-z0-9_-]+\.[a-z]+}", handle_web)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, cfg.host, cfg.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        # What exists now (modules, classes, the registry, settings) lives as long as the
        # server: keep it out of the collector's full passes, which stall the loop for
        # ~0.5 us per tracked object (0.5 s with 10,000 sockets open). Unfrozen by stop().
        gc.collect(1)
        gc.freeze()
        log.info("corral server %s listening on %s", self.server_id, self.url)

    async def stop(self) -> None:
        gc.unfreeze()  # what start() froze can be collected again once this server is gone
        services = self.services
        if services is not None and services.engine is not None:
            await self.purge.stop()
            await self.agent_pinger.stop()
            await services.engine.stop()
        if services is not None and services.bus is not None:
            await services.pinger.stop()
            await self.changes.flush_all()
            await services.bus.close()  # closes every socket's sink (1001)
        if self.runner is not None:
            await self.runner.cleanup()
        if services is not None:
            await services.store.close()
