"""Who is asking and where: the principal behind a request and the URL scope it used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.protocol.ids import format_id

if TYPE_CHECKING:
    from corral.server.services import Services

# Account kinds. admin and service subscribe "raw" and may publish any event.
RAW_KINDS = frozenset({"admin", "service"})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated key: its credential, its account and that account's kind."""

    credential_id: int
    account_id: int
    account_kind: str
    project_id: int | None  # the project the key is bound to; None for admin/service keys
    agent_id: int | None = None  # set for agent accounts with a single agent

    @property
    def is_admin(self) -> bool:
        return self.account_kind == "admin"

    @property
    def is_raw(self) -> bool:
        return self.account_kind in RAW_KINDS


@dataclass(slots=True)
class Context:
    """One request: principal, project scope, URL bases, and the server's services."""

    principal: Principal
    project_id: int | None  # effective project scope (URL or key); None = everything visible
    root_url: str  # http://host:port/v1
    services: Services
    scoped_url: bool = False  # the request came through /v1/projects/<id>/…
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """Where collections live for this request: /v1 or /v1/projects/<id>."""
        if self.scoped_url and self.project_id is not None:
            return f"{self.root_url}/projects/{format_id('project', self.project_id)}"
        return self.root_url
