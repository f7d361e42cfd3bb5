"""A subscription and the index that routes an event name to its subscriptions.

The index maps each qualified name to the set of subscriptions that asked for it, so
routing one event costs one dict lookup plus the matching subscribers. A subscription to
``*`` (raw subscribers only, as in Cattle) lives in a separate wildcard set and receives
every event; it is not indexed under its other names, so nothing arrives twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from corral.bus.sink import Sink
from corral.protocol import names as _names

__all__ = ["DeliveryName", "Subscription", "SubscriptionIndex"]

DeliveryName = Callable[[str], str]
"""Turns a published (qualified) name into the name a subscriber sees."""


@dataclass(eq=False, slots=True)
class Subscription:
    """A set of qualified names, a sink, and how delivered names are rewritten.

    ``delivery_name`` is ``names.strip`` (qualified subscribers see plain names) or None
    (the name is delivered as published). ``held`` is set only while a resume is
    replaying: live frames wait there as ``(seq, frame)`` until the replay is done.
    """

    names: frozenset[str]
    sink: Sink
    delivery_name: DeliveryName | None = _names.strip
    label: str = ""
    held: list[tuple[int | None, bytes]] | None = field(default=None, repr=False)
    active: bool = field(default=True, repr=False)

    @property
    def wildcard(self) -> bool:
        return _names.WILDCARD in self.names

    def matches(self, name: str) -> bool:
        names = self.names
        return name in names or _names.WILDCARD in names


class SubscriptionIndex:
    """Qualified name -> subscriptions, plus the wildcard set. Not thread-safe."""

    __slots__ = ("_all", "by_name", "wildcard")

    def __init__(self) -> None:
        self.by_name: dict[str, set[Subscription]] = {}
        self.wildcard: set[Subscription] = set()
        self._all: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._all))

    def __contains__(self, sub: object) -> bool:
        return sub in self._all

    def add(self, sub: Subscription) -> None:
        if sub in self._all:
            return
        self._all.add(sub)
        if sub.wildcard:
            self.wildcard.add(sub)
        else:
            by_name = self.by_name
            for name in sub.names:
                subs = by_name.get(name)
                if subs is None:
                    by_name[name] = {sub}
                else:
                    subs.add(sub)

    def remove(self, sub: Subscription) -> bool:
        """Remove ``sub``; False if it was not there."""
        if sub not in self._all:
            return False
        self._all.discard(sub)
        if sub.wildcard:
            self.wildcard.discard(sub)
        else:
            by_name = self.by_name
            for name in sub.names:
                subs = by_name.get(name)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del by_name[name]
        return True

    def match(self, name: str) -> tuple[set[Subscription] | None, set[Subscription]]:
        """The subscriptions for exactly ``name`` (or None) and the wildcard set."""
        return self.by_name.get(name), self.wildcard

    def names(self) -> Iterable[str]:
        return self.by_name.keys()
