"""The process tables: consistent, complete, and as the spec says."""

from __future__ import annotations

import pytest

from corral.engine import definitions
from corral.engine.definitions import REGISTRY, ProcessDefinition, Registry, build_registry
from corral.engine.tables import TYPES, TypeTable
from corral.errors import ProcessError, UnknownProcess

ALL = list(REGISTRY)
TYPE_NAMES = [
    "project",
    "credential",
    "agent",
    "host",
    "instance",
    "volume",
    "stack",
    "service",
    "containerEvent",
    "serviceEvent",
]


def test_every_required_type_has_processes() -> None:
    assert list(definitions.resource_types()) == TYPE_NAMES


@pytest.mark.parametrize("definition", ALL, ids=lambda d: d.name)
def test_every_delegate_exists_and_can_start_from_the_transitioning_state(
    definition: ProcessDefinition,
) -> None:
    if definition.delegate is None:
        return
    target = REGISTRY.get(definition.delegate)
    assert target.resource_type == definition.resource_type
    assert definition.transitioning_states <= target.start_states


@pytest.mark.parametrize("resource_type", TYPE_NAMES)
def test_every_start_state_is_reachable_from_requested(resource_type: str) -> None:
    processes = REGISTRY.for_type(resource_type)
    reachable = {"requested"}
    changed = True
    while changed:
        changed = False
        for d in processes:
            if reachable & d.start_states:
                new = d.transitioning_states | d.done_states
                if d.error_state:
                    new |= {d.error_state}
                if not new <= reachable:
                    reachable |= new
                    changed = True
    for d in processes:
        assert d.start_states <= reachable, (d.name, d.start_states - reachable)


@pytest.mark.parametrize("resource_type", TYPE_NAMES)
def test_transitioning_and_done_states_never_overlap(resource_type: str) -> None:
    processes = REGISTRY.for_type(resource_type)
    transitioning = set().union(*(d.transitioning_states for d in processes))
    done = set().union(*(d.done_states for d in processes))
    assert not transitioning & done
    for d in processes:
        assert not d.start_states & d.transitioning_states


@pytest.mark.parametrize("resource_type", TYPE_NAMES)
def test_every_type_can_be_created_removed_and_purged(resource_type: str) -> None:
    create = REGISTRY.create_process(resource_type)
    assert create is not None and create.start_states == {"requested"}
    assert create.internal
    remove = REGISTRY.get(f"{resource_type.lower()}.remove")
    assert remove.done_state == "removed"
    purge = REGISTRY.get(f"{resource_type.lower()}.purge")
    assert purge.start_states == {"removed"} and purge.done_state == "purged"


@pytest.mark.parametrize("definition", ALL, ids=lambda d: d.name)
def test_error_states_are_real_and_removable(definition: ProcessDefinition) -> None:
    if definition.error_state is None:
        return
    error = REGISTRY.get(f"{definition.resource_type.lower()}.error")
    assert definition.error_state == error.done_state
    remove = REGISTRY.get(f"{definition.resource_type.lower()}.remove")
    assert definition.error_state in remove.start_states


def test_default_processes_follow_the_spec_table() -> None:
    p = {d.action: d for d in REGISTRY.for_type("project")}
    assert (p["create"].transitioning_state, p["create"].done_state) == ("registering", "inactive")
    assert p["create"].delegate == "project.activate"
    assert p["activate"].start_states == {"inactive", "registering"}
    assert p["deactivate"].start_states == {
        "requested",
        "registering",
        "active",
        "activating",
        "updating-active",
        "updating-inactive",
    }
    assert p["remove"].start_states == {
        "requested",
        "inactive",
        "registering",
        "updating-active",
        "updating-inactive",
    }
    assert (p["purge"].transitioning_state, p["purge"].done_state) == ("purging", "purged")


def test_update_returns_to_the_state_it_started_from() -> None:
    update = definitions.get("volume.update")
    assert update.transitioning_for("active") == "updating-active"
    assert update.transitioning_for("inactive") == "updating-inactive"
    assert update.done_for("updating-active") == "active"
    assert update.done_for("updating-inactive") == "inactive"
    instance_update = definitions.get("instance.update")
    assert instance_update.transitioning_for("stopped") == "updating-stopped"
    assert instance_update.done_for("updating-stopped") == "stopped"
    assert instance_update.done_for("updating-running") == "running"


def test_instance_renames_and_processes() -> None:
    create = definitions.get("instance.create")
    assert (create.transitioning_state, create.done_state) == ("creating", "stopped")
    assert create.delegate == "instance.start"
    start = definitions.get("instance.start")
    assert start.start_states == {"stopped", "creating"}
    assert (start.transitioning_state, start.done_state) == ("starting", "running")
    stop = definitions.get("instance.stop")
    assert (stop.transitioning_state, stop.done_state) == ("stopping", "stopped")
    restart = definitions.get("instance.restart")
    assert (restart.start_states, restart.transitioning_state, restart.done_state) == (
        frozenset({"running"}),
        "restarting",
        "running",
    )
    error = definitions.get("instance.error")
    assert (error.start_states, error.transitioning_state, error.done_state) == (
        frozenset({"creating", "stopped"}),
        "erroring",
        "error",
    )
    assert definitions.get("instance.remove").start_states == {
        "requested",
        "creating",
        "stopped",
        "erroring",
        "error",
        "updating-running",
        "updating-stopped",
    }
    assert definitions.find("instance.activate") is None


def test_agent_commands() -> None:
    commands = {d.name: d.agent_command for d in ALL if d.agent_command}
    assert commands == {
        "instance.start": "compute.instance.activate",
        "instance.stop": "compute.instance.deactivate",
        "instance.remove": "compute.instance.remove",
        "instance.purge": "compute.instance.remove",
        "volume.activate": "storage.volume.activate",
        "volume.deactivate": "storage.volume.deactivate",
        "volume.remove": "storage.volume.remove",
    }


def test_agent_reconnect_family() -> None:
    reconnect = definitions.get("agent.reconnect")
    assert "active" in reconnect.start_states and "disconnected" in reconnect.start_states
    assert reconnect.transitioning_state == "reconnecting"
    assert reconnect.delegate == "agent.finishreconnect"
    finish = definitions.get("agent.finishreconnect")
    assert (finish.transitioning_state, finish.done_state) == ("finishing-reconnect", "active")
    disconnect = definitions.get("agent.disconnect")
    assert "reconnecting" in disconnect.start_states
    assert (disconnect.transitioning_state, disconnect.done_state) == (
        "disconnecting",
        "disconnected",
    )


def test_host_stack_and_service_specifics() -> None:
    assert definitions.get("host.provision").transitioning_state == "provisioning"
    assert definitions.get("host.error").done_state == "error"
    stack_create = definitions.get("stack.create")
    assert (stack_create.transitioning_state, stack_create.done_state) == ("activating", "active")
    assert stack_create.delegate is None
    assert set(definitions.action_processes("stack")) == {"update", "remove", "purge", "error"}
    assert set(definitions.action_processes("service")) == {
        "activate",
        "deactivate",
        "update",
        "remove",
        "purge",
        "restart",
    }
    assert definitions.get("service.restart").start_states == {"active"}


def test_action_processes_map_actions_to_process_names() -> None:
    actions = definitions.action_processes("instance")
    assert actions["start"] == "instance.start"
    assert actions["stop"] == "instance.stop"
    assert actions["restart"] == "instance.restart"
    assert actions["error"] == "instance.error"
    assert "create" not in actions
    assert definitions.action_processes("agent")["reconnect"] == "agent.reconnect"
    assert definitions.action_processes("nothing") == {}


INSTANCE_ACTIONS = {
    "requested": {"stop", "remove"},
    "creating": {"start", "stop", "remove"},
    "stopped": {"start", "update", "remove"},
    "starting": {"stop"},
    "running": {"stop", "update", "restart"},
    "stopping": set(),
    "restarting": set(),
    "updating-running": {"stop", "remove"},
    "updating-stopped": {"stop", "remove"},
    "erroring": {"remove"},
    "error": {"remove"},
    "removing": set(),
    "removed": {"purge"},
    "purging": set(),
    "purged": set(),
}


@pytest.mark.parametrize("state", sorted(INSTANCE_ACTIONS))
def test_valid_actions_for_instance_in_each_state(state: str) -> None:
    actions = definitions.valid_actions("instance", state)
    assert set(actions) == INSTANCE_ACTIONS[state]
    assert len(actions) == len(set(actions))


def test_valid_actions_can_include_internal_processes() -> None:
    assert "error" not in definitions.valid_actions("instance", "stopped")
    assert "error" in REGISTRY.valid_actions("instance", "stopped", include_internal=True)
    assert definitions.valid_actions("instance", None) == []
    assert definitions.valid_actions("agent", "active") == [
        "deactivate",
        "update",
        "reconnect",
    ]


def test_is_transitioning() -> None:
    assert definitions.is_transitioning("instance", "creating")
    assert definitions.is_transitioning("instance", "restarting")
    assert not definitions.is_transitioning("instance", "running")
    assert not definitions.is_transitioning("instance", "error")
    assert definitions.is_transitioning("agent", "reconnecting")
    assert not definitions.is_transitioning("agent", None)
    assert "finishing-reconnect" in REGISTRY.states("agent")


def test_timeout_settings_cover_every_process_with_sensible_defaults() -> None:
    settings = definitions.timeout_settings()
    assert len(settings) == len(REGISTRY)
    assert all(
        name.startswith("process.") and name.endswith(".timeout.seconds") for name in settings
    )
    assert settings["process.instance.start.timeout.seconds"] == 600
    assert settings["process.instance.remove.timeout.seconds"] == 3600
    assert settings["process.agent.reconnect.timeout.seconds"] == 0
    assert settings["process.project.create.timeout.seconds"] == 0
    for d in ALL:
        assert d.timeout_setting == f"process.{d.name}.timeout.seconds"
        if d.agent_command:
            assert d.default_timeout > 0, d.name


def test_unknown_process_raises() -> None:
    with pytest.raises(UnknownProcess) as info:
        definitions.get("instance.fly")
    assert isinstance(info.value, ProcessError)
    assert info.value.name == "instance.fly"


def test_definition_validation() -> None:
    with pytest.raises(ValueError):
        ProcessDefinition("wrong.start", "instance", frozenset({"a"}), "b", "c")
    with pytest.raises(ValueError):
        ProcessDefinition("x.start", "x", frozenset(), "b", "c")
    with pytest.raises(ValueError):
        ProcessDefinition("x.start", "x", frozenset({"a", "b"}), "b", "c")
    with pytest.raises(ValueError):
        ProcessDefinition("x.go", "x", frozenset({"a"}), "b", "c", per_start=(("z", "y", "c"),))


def test_registry_rejects_inconsistent_tables() -> None:
    a = ProcessDefinition("x.a", "x", frozenset({"requested"}), "t", "d", delegate="x.b")
    b = ProcessDefinition("x.b", "x", frozenset({"other"}), "u", "e")
    with pytest.raises(ValueError, match="cannot start"):
        Registry([a, b])
    with pytest.raises(ValueError, match="unknown delegate"):
        Registry([a])
    with pytest.raises(ValueError, match="twice"):
        Registry([b, b])


def test_build_registry_from_custom_tables() -> None:
    registry = build_registry({"widget": TypeTable(exclude=frozenset({"purge"}))})
    assert [d.name for d in registry] == [
        "widget.create",
        "widget.activate",
        "widget.deactivate",
        "widget.update",
        "widget.remove",
    ]
    assert "widget.create" in registry and len(registry) == 5
    assert set(TYPES) == set(TYPE_NAMES)


def test_engine_core_imports_neither_asyncio_nor_a_database() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import corral.engine.definitions, corral.engine.statemachine\n"
        "import corral.engine.backoff, corral.engine.log\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(roots & {'asyncio', 'sqlalchemy', 'aiosqlite', 'asyncpg', 'aiohttp'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
