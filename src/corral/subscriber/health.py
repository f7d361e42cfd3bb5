"""``GET /healthcheck``: 200 while subscribed, 503 otherwise, as every Rancher service had.

The body is a small JSON status (subscribed, last seq, queue depth, counters) so a person
curling it learns why it is unhealthy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["HealthServer"]

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, status: Callable[[], dict[str, Any]], *, host: str, port: int) -> None:
        self.status = status
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        app = web.Application()
        app.router.add_get("/healthcheck", self._healthcheck)
        app.router.add_get("/", self._healthcheck)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("healthcheck on http://%s:%d/healthcheck", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthcheck(self, _request: web.Request) -> web.Response:
        status = self.status()
        return web.json_response(status, status=200 if status.get("subscribed") else 503)
