"""Event names and their qualifiers.

An event name is a dotted word (``compute.instance.activate``) optionally followed by
qualifiers after the first ``;`` (``compute.instance.activate;agent=12``). Qualified
subscribers ask for plain names; the server appends ``;agent=<id>`` or ``;account=<id>``
so that an event for agent 12 reaches only agent 12's sockets. Names may contain
``*._0-9a-zA-Z;=`` only and are at most 255 characters long.

Replies are published under the ``replyTo`` name of the call, ``reply.<random positive
integer>``.

Pure: no I/O, no asyncio.
"""

from __future__ import annotations

import re
import secrets

from corral.errors import ProtocolError

__all__ = [
    "MAX_NAME_LENGTH",
    "REPLY_PREFIX",
    "WILDCARD",
    "is_reply",
    "is_valid",
    "new_reply_name",
    "qualify",
    "strip",
    "validate",
]

MAX_NAME_LENGTH = 255
REPLY_PREFIX = "reply."
WILDCARD = "*"

_NAME = re.compile(rf"[*._0-9a-zA-Z;=]{{1,{MAX_NAME_LENGTH}}}")
_BAD_CHAR = re.compile(r"[^*._0-9a-zA-Z;=]")


def is_valid(name: object) -> bool:
    """Whether ``name`` is a string that may be used as an event name."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def validate(name: object, *, field_name: str = "name") -> str:
    """Return ``name`` unchanged if it is a valid event name, else raise ProtocolError."""
    if isinstance(name, str) and _NAME.fullmatch(name) is not None:
        return name
    if not isinstance(name, str):
        raise ProtocolError(
            f"event name must be a string, not {type(name).__name__}", field_name=field_name
        )
    if not name:
        raise ProtocolError("event name must not be empty", field_name=field_name)
    if len(name) > MAX_NAME_LENGTH:
        raise ProtocolError(
            f"event name is {len(name)} characters long, at most {MAX_NAME_LENGTH} allowed",
            field_name=field_name,
        )
    bad = _BAD_CHAR.search(name)
    char = bad.group() if bad else "?"
    raise ProtocolError(
        f"event name {name[:64]!r} contains {char!r}; only *._0-9a-zA-Z;= are allowed",
        field_name=field_name,
    )


def strip(name: str) -> str:
    """The name without its qualifiers: everything from the first ``;`` removed."""
    cut = name.find(";")
    return name if cut < 0 else name[:cut]


def qualify(
    name: str,
    agent_id: str | int | None = None,
    account_id: str | int | None = None,
) -> str:
    """Qualify a requested name for one agent or one account.

    The name is cut at its first ``;`` and ``;agent=<agent_id>`` (or, without an agent,
    ``;account=<account_id>``) appended. With neither id the name is returned as given:
    that is a raw subscription. Passing both is a programming error.
    """
    if agent_id is not None and account_id is not None:
        raise ValueError("qualify() takes agent_id or account_id, not both")
    if agent_id is not None:
        qualified = f"{strip(name)};agent={agent_id}"
    elif account_id is not None:
        qualified = f"{strip(name)};account={account_id}"
    else:
        return validate(name)
    return validate(qualified)


def is_reply(name: str) -> bool:
    """Whether ``name`` is a reply name (``reply.<n>``)."""
    return name.startswith(REPLY_PREFIX)


def new_reply_name() -> str:
    """A fresh ``replyTo`` name, ``reply.<random positive 63-bit integer>``.

    Unpredictable on purpose: any account may publish ``reply.*`` events, so a reply name
    must not be guessable by someone who wants to answer a call that is not theirs.
    """
    return f"{REPLY_PREFIX}{secrets.randbits(63) or 1}"
