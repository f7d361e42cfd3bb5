"""Runtime drivers: how the host agent turns an instance into something running.

:class:`RuntimeDriver` is the interface the agent uses; :class:`LocalProcessDriver` runs each
instance as a detached OS process on the agent's machine.
"""

from __future__ import annotations

from corral.agent.runtime.base import (
    ExitListener,
    InstanceFacts,
    InstanceSpec,
    InstanceStartError,
    InstanceState,
    InvalidNameError,
    RuntimeDriver,
    RuntimeDriverError,
    VolumeInUseError,
)
from corral.agent.runtime.local import LocalProcessDriver

__all__ = [
    "ExitListener",
    "InstanceFacts",
    "InstanceSpec",
    "InstanceStartError",
    "InstanceState",
    "InvalidNameError",
    "LocalProcessDriver",
    "RuntimeDriver",
    "RuntimeDriverError",
    "VolumeInUseError",
]
