"""Process definitions as data, and the registry that looks them up.

A :class:`ProcessDefinition` says from which states a process may start, which
transitioning state it sets, which done state it writes, which process it
delegates to, which command it sends to an agent, which state a resource takes
when the process fails for good, and the setting holding its overall timeout.
The tables live in :mod:`corral.engine.tables`; :func:`build_registry` turns
them into a :class:`Registry`, checked for consistency on the way.

The module-level functions (:func:`get`, :func:`for_type`,
:func:`action_processes`, :func:`valid_actions`, …) use the default registry.
Pure: no I/O, no asyncio.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from corral.engine import tables
from corral.engine.tables import Row, TypeTable
from corral.errors import UnknownProcess

__all__ = [
    "REGISTRY",
    "ProcessDefinition",
    "Registry",
    "action_processes",
    "build_registry",
    "find",
    "for_type",
    "get",
    "is_transitioning",
    "resource_types",
    "timeout_setting_name",
    "timeout_settings",
    "valid_actions",
]


def timeout_setting_name(process_name: str) -> str:
    """``instance.start`` → ``process.instance.start.timeout.seconds``."""
    return f"process.{process_name}.timeout.seconds"


@dataclass(frozen=True, slots=True)
class ProcessDefinition:
    """One process of one resource type, as data.

    ``transitioning_state`` and ``done_state`` are the main path; ``per_start``
    overrides them for particular start states as ``(start, transitioning,
    done)`` triples, which is how ``x.update`` returns to the state it started
    from (inactive → updating-inactive → inactive, active → updating-active →
    active). The done state is found from the transitioning state, so a replay
    after a crash needs nothing but the resource's current state.

    ``default_timeout`` (seconds; 0 = none) is the default of the setting named
    ``timeout_setting``. ``internal`` processes are run by the server itself and
    never offered as API actions (``x.create``, ``instance.error``, …).
    """

    name: str
    resource_type: str
    start_states: frozenset[str]
    transitioning_state: str
    done_state: str
    delegate: str | None = None
    agent_command: str | None = None
    error_state: str | None = None
    timeout_setting: str = ""
    default_timeout: float = 0.0
    per_start: tuple[tuple[str, str, str], ...] = ()
    internal: bool = False

    def __post_init__(self) -> None:
        prefix = self.resource_type.lower() + "."
        if not self.name.startswith(prefix) or len(self.name) == len(prefix):
            raise ValueError(f"process {self.name!r} must be named {prefix}<action>")
        if not self.start_states:
            raise ValueError(f"process {self.name!r} has no start state")
        for start, _, _ in self.per_start:
            if start not in self.start_states:
                raise ValueError(f"process {self.name!r}: {start!r} is not a start state")
        overlap = self.start_states & self.transitioning_states
        if overlap:
            raise ValueError(
                f"process {self.name!r}: {sorted(overlap)} both start and transitioning"
            )
        if self.default_timeout < 0:
            raise ValueError(f"process {self.name!r}: negative timeout")
        if not self.timeout_setting:
            object.__setattr__(self, "timeout_setting", timeout_setting_name(self.name))

    @property
    def action(self) -> str:
        """The API action name: the part after the first dot (``start``)."""
        return self.name.split(".", 1)[1]

    @property
    def transitioning_states(self) -> frozenset[str]:
        return frozenset([self.transitioning_state, *(t for _, t, _ in self.per_start)])

    @property
    def done_states(self) -> frozenset[str]:
        return frozenset([self.done_state, *(d for _, _, d in self.per_start)])

    def can_start(self, state: str | None) -> bool:
        return state is not None and state in self.start_states

    def transitioning_for(self, start_state: str) -> str:
        """The transitioning state to set when starting from ``start_state``."""
        for start, transitioning, _ in self.per_start:
            if start == start_state:
                return transitioning
        return self.transitioning_state

    def done_for(self, transitioning_state: str) -> str:
        """The done state to write after success from ``transitioning_state``."""
        for _, transitioning, done in self.per_start:
            if transitioning == transitioning_state:
                return done
        return self.done_state


class Registry:
    """All process definitions, indexed by name and by resource type."""

    def __init__(self, definitions: Iterable[ProcessDefinition]) -> None:
        self._by_name: dict[str, ProcessDefinition] = {}
        self._by_type: dict[str, list[ProcessDefinition]] = {}
        for definition in definitions:
            if definition.name in self._by_name:
                raise ValueError(f"process {definition.name!r} defined twice")
            self._by_name[definition.name] = definition
            self._by_type.setdefault(definition.resource_type, []).append(definition)
        self._check_delegates()

    def _check_delegates(self) -> None:
        for definition in self._by_name.values():
            if definition.delegate is None:
                continue
            target = self._by_name.get(definition.delegate)
            if target is None:
                raise ValueError(f"{definition.name}: unknown delegate {definition.delegate!r}")
            if target.resource_type != definition.resource_type:
                raise ValueError(f"{definition.name}: delegate of another resource type")
            reachable = definition.transitioning_states | definition.done_states
            if not reachable & target.start_states:
                raise ValueError(f"{definition.name}: delegate {target.name} cannot start")

    def __iter__(self) -> Iterator[ProcessDefinition]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, process_name: str) -> ProcessDefinition:
        """The definition named ``process_name``; :class:`UnknownProcess` if none."""
        try:
            return self._by_name[process_name]
        except KeyError:
            raise UnknownProcess(process_name) from None

    def find(self, process_name: str) -> ProcessDefinition | None:
        return self._by_name.get(process_name)

    def for_type(self, resource_type: str) -> tuple[ProcessDefinition, ...]:
        """The processes of a resource type, in table order (empty if none)."""
        return tuple(self._by_type.get(resource_type, ()))

    def resource_types(self) -> tuple[str, ...]:
        return tuple(self._by_type)

    def create_process(self, resource_type: str) -> ProcessDefinition | None:
        """The process run when a resource of this type is created, if any."""
        return self.find(f"{resource_type.lower()}.create")

    def action_processes(self, resource_type: str) -> dict[str, str]:
        """API action name → process name, for every process but ``create``.

        Internal processes (``error``, ``disconnect``, …) are included so the
        server can find them by action; :meth:`valid_actions` leaves them out.
        """
        return {d.action: d.name for d in self.for_type(resource_type) if d.action != "create"}

    def valid_actions(
        self, resource_type: str, state: str | None, *, include_internal: bool = False
    ) -> list[str]:
        """The actions whose process can start from ``state``, in table order."""
        return [
            d.action
            for d in self.for_type(resource_type)
            if d.action != "create" and (include_internal or not d.internal) and d.can_start(state)
        ]

    def is_transitioning(self, resource_type: str, state: str | None) -> bool:
        """Whether ``state`` is a transitioning state (the API's ``yes``)."""
        return state is not None and any(
            state in d.transitioning_states for d in self.for_type(resource_type)
        )

    def states(self, resource_type: str) -> frozenset[str]:
        """Every state the processes of a type mention (for enum options)."""
        found: set[str] = set()
        for d in self.for_type(resource_type):
            found |= d.start_states | d.transitioning_states | d.done_states
            if d.error_state:
                found.add(d.error_state)
        return frozenset(found)

    def timeout_settings(self) -> dict[str, float]:
        """Setting name → default overall timeout in seconds (0 = none)."""
        return {d.timeout_setting: d.default_timeout for d in self}


# --- building from the tables ----------------------------------------------


def _states(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _rename(row: Row, renames: Mapping[str, str], process_renames: Mapping[str, str]) -> Row:
    def one(state: str) -> str:
        return renames.get(state, state)

    def many(text: str) -> str:
        return ",".join(one(s) for s in _states(text))

    delegate = row.delegate
    if delegate is not None:
        delegate = process_renames.get(delegate, delegate)
    return Row(
        suffix=process_renames.get(row.suffix, row.suffix),
        start=many(row.start),
        transitioning=one(row.transitioning),
        done=one(row.done),
        delegate=delegate,
        command=row.command,
        error=None if row.error is None else one(row.error),
        timeout=row.timeout,
        internal=row.internal,
        per_start=tuple((one(s), one(t), one(d)) for s, t, d in row.per_start),
    )


def _rows_for(table: TypeTable) -> list[Row]:
    rows: dict[str, Row] = {}
    if table.defaults:
        for row in tables.DEFAULT_ROWS:
            if row.suffix not in table.exclude:
                renamed = _rename(row, table.renames, table.process_renames)
                rows[renamed.suffix] = renamed
    for suffix, extra in table.extra_start.items():
        row = rows[suffix]
        merged = list(_states(row.start))
        merged += [s for s in _states(extra) if s not in merged]
        rows[suffix] = _replace(row, start=",".join(merged))
    for row in table.rows:
        rows[row.suffix] = row
    for suffix, command in table.commands.items():
        rows[suffix] = _replace(rows[suffix], command=command)
    for suffix, error in table.errors.items():
        rows[suffix] = _replace(rows[suffix], error=error)
    for suffix, timeout in table.timeouts.items():
        rows[suffix] = _replace(rows[suffix], timeout=timeout)
    for suffix, delegate in table.delegates.items():
        rows[suffix] = _replace(rows[suffix], delegate=delegate)
    return list(rows.values())


def _replace(row: Row, **changes: Any) -> Row:
    return replace(row, **changes)


def definitions_for(resource_type: str, table: TypeTable) -> list[ProcessDefinition]:
    """The definitions one type table yields."""
    prefix = resource_type.lower()
    result = []
    for row in _rows_for(table):
        name = f"{prefix}.{row.suffix}"
        result.append(
            ProcessDefinition(
                name=name,
                resource_type=resource_type,
                start_states=frozenset(_states(row.start)),
                transitioning_state=row.transitioning,
                done_state=row.done,
                delegate=None if row.delegate is None else f"{prefix}.{row.delegate}",
                agent_command=row.command,
                error_state=row.error,
                timeout_setting=timeout_setting_name(name),
                default_timeout=float(row.timeout),
                per_start=row.per_start,
                internal=row.internal,
            )
        )
    return result


def build_registry(type_tables: Mapping[str, TypeTable] | None = None) -> Registry:
    """A registry from type tables (default: :data:`corral.engine.tables.TYPES`)."""
    source = tables.TYPES if type_tables is None else type_tables
    definitions: list[ProcessDefinition] = []
    for resource_type, table in source.items():
        definitions += definitions_for(resource_type, table)
    return Registry(definitions)


REGISTRY: Registry = build_registry()
"""The registry of every process corral runs."""


def get(process_name: str) -> ProcessDefinition:
    return REGISTRY.get(process_name)


def find(process_name: str) -> ProcessDefinition | None:
    return REGISTRY.find(process_name)


def for_type(resource_type: str) -> tuple[ProcessDefinition, ...]:
    return REGISTRY.for_type(resource_type)


def resource_types() -> tuple[str, ...]:
    return REGISTRY.resource_types()


def action_processes(resource_type: str) -> dict[str, str]:
    return REGISTRY.action_processes(resource_type)


def valid_actions(resource_type: str, state: str | None) -> list[str]:
    return REGISTRY.valid_actions(resource_type, state)


def is_transitioning(resource_type: str, state: str | None) -> bool:
    return REGISTRY.is_transitioning(resource_type, state)


def timeout_settings() -> dict[str, float]:
    return REGISTRY.timeout_settings()
