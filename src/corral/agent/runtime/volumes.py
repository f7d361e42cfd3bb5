"""Volumes of the local runtime: plain directories under ``<data_dir>/volumes/<name>``.

A spec's ``volumes`` entry is a volume name or an absolute host path, optionally followed by
``:target[:mode]`` as in Cattle's ``dataVolumes``. A local process sees the host's file system,
so the target is ignored; the process finds its volume directories in the environment variable
``CORRAL_VOLUMES`` (``os.pathsep``-separated, in spec order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from corral.agent.runtime.base import InstanceStartError, InvalidNameError, check_name

logger = logging.getLogger(__name__)

#: Environment variable listing an instance's volume directories, ``os.pathsep``-separated.
VOLUMES_ENV = "CORRAL_VOLUMES"


def volume_source(volume: str) -> str:
    """``name``, ``/path``, ``name:/target`` or ``/path:/target:ro`` → the host side."""
    return volume.split(":", 1)[0]


class VolumeStore:
    """Named volume directories under *root*. Create and remove are idempotent."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / check_name(name, what="volume name")

    def create(self, name: str) -> Path:
        path = self.path(name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def remove(self, name: str) -> None:
        path = self.path(name)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(shutil.rmtree, path)
        logger.info("volume removed name=%s", name)

    def prepare(self, volumes: Iterable[str], *, uuid: str | None = None) -> list[str]:
        """Host directories for a spec's volumes, in order: a name is a volume here (created
        if missing); an absolute path must be an existing directory."""
        paths: list[str] = []
        for volume in volumes:
            source = volume_source(volume)
            if source.startswith("/"):
                if not os.path.isdir(source):
                    raise InstanceStartError(f"volume path does not exist: {source}", uuid=uuid)
                paths.append(source)
                continue
            try:
                paths.append(str(self.create(source)))
            except InvalidNameError as exc:
                raise InstanceStartError(str(exc), uuid=uuid) from exc
        return paths
