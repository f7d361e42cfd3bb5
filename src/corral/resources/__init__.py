"""The resource types corral serves."""

from __future__ import annotations

from corral.api.registry import Registry


def default_registry() -> Registry:
    from corral.resources.accounts import AccountType, ProjectType
    from corral.resources.bus_schemas import PublishType, SubscribeType
    from corral.resources.compute import (
        AgentType,
        ContainerEventType,
        HostType,
        InstanceType,
        ServiceEventType,
        ServiceType,
        StackType,
        VolumeType,
    )
    from corral.resources.processes import (
        ProcessExecutionType,
        ProcessInstanceType,
        ProcessSummaryType,
    )
    from corral.resources.credentials import ApiKeyType
    from corral.resources.registration import RegistrationTokenType
    from corral.resources.settings import ActiveSettingType, SettingType

    return Registry([
        AccountType(), ProjectType(), ApiKeyType(), RegistrationTokenType(), SettingType(),
        ActiveSettingType(),
        SubscribeType(), PublishType(),
        AgentType(), HostType(), InstanceType(), VolumeType(), StackType(), ServiceType(),
        ContainerEventType(), ServiceEventType(),
        ProcessInstanceType(), ProcessExecutionType(), ProcessSummaryType(),
    ])
