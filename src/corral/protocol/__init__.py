"""The pure protocol layer: events, their JSON codec and event names (no I/O, no asyncio)."""

from __future__ import annotations

from corral.protocol.event import Event, decode, encode, reply_to

__all__ = ["Event", "decode", "encode", "reply_to"]
