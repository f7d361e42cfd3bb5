"""The set of resource types a server exposes, by schema id and by plural name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from corral.api.resource import ResourceType


class Registry:
    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._by_name: dict[str, ResourceType] = {}
        self._by_plural: dict[str, ResourceType] = {}
        for t in types:
            self.add(t)

    def add(self, rtype: ResourceType) -> None:
        if rtype.name in self._by_name:
            raise ValueError(f"type {rtype.name} declared twice")
        self._by_name[rtype.name] = rtype
        if rtype.listed:
            if rtype.plural in self._by_plural:
                raise ValueError(f"collection {rtype.plural} declared twice")
            self._by_plural[rtype.plural] = rtype

    def get(self, name: str) -> ResourceType | None:
        return self._by_name.get(name)

    def by_plural(self, plural: str) -> ResourceType | None:
        return self._by_plural.get(plural)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._by_name.values())
