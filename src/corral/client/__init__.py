"""The REST client shared by the CLI, the agent and the subscriber SDK.

``Client`` (blocking) and ``AsyncClient`` (asyncio) speak the Cattle REST API (§1 of the
wire protocol) with httpx: configured once, used as context managers, with an injectable
transport. Errors: :class:`ApiError` for the server's error JSON, :class:`ConnectionFailed`
when the server cannot be reached, :class:`ConfigError` when no URL or key is known; each
one's ``str()`` is one line that says what to do.
"""

from __future__ import annotations

from corral.client.aio import AsyncClient
from corral.client.config import ClientConfig, api_base, config_path, resolve, save
from corral.client.errors import (
    ApiError,
    ClientError,
    ConfigError,
    ConnectionFailed,
    TransitioningError,
    WaitTimeout,
)
from corral.client.sync import Client

__all__ = [
    "ApiError", "AsyncClient", "Client", "ClientConfig", "ClientError", "ConfigError",
    "ConnectionFailed", "TransitioningError", "WaitTimeout", "api_base", "config_path",
    "resolve", "save",
]
