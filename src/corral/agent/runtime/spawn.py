"""Turning an :class:`InstanceSpec` into a detached OS process.

Everything a person could get wrong is checked *before* the fork, so the error says which
thing is wrong ("command not found: 'foo'", "working directory does not exist: /x") instead
of a bare ``ENOENT``. The process gets its own session (``setsid``): it is no child of the
agent's terminal or process group, so neither a Ctrl-C nor a ``kill -9`` of the agent reaches
it, and the whole group can be signalled at stop.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from corral.agent.runtime.base import InstanceStartError

logger = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def base_environment(*, home: str | None = None) -> dict[str, str]:
    """The minimal environment every instance starts from: PATH, HOME and LANG, taken from
    the agent where it has them. Nothing else of the agent's environment leaks through."""
    return {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "HOME": os.environ.get("HOME") or home or "/",
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }


def build_environment(
    extra: Mapping[str, str], *, base: Mapping[str, str], uuid: str | None = None
) -> dict[str, str]:
    """*base* overlaid with *extra*, after checking every name and value."""
    env = dict(base)
    for name, value in extra.items():
        if not name or "=" in name or "\0" in name:
            raise InstanceStartError(f"invalid environment variable name: {name!r}", uuid=uuid)
        if "\0" in value:
            raise InstanceStartError(
                f"environment variable {name} holds a NUL character", uuid=uuid
            )
        env[name] = value
    return env


def check_working_dir(working_dir: str, *, uuid: str | None = None) -> str:
    if not os.path.isabs(working_dir):
        raise InstanceStartError(
            f"working directory must be an absolute path: {working_dir}", uuid=uuid
        )
    if not os.path.exists(working_dir):
        raise InstanceStartError(f"working directory does not exist: {working_dir}", uuid=uuid)
    if not os.path.isdir(working_dir):
        raise InstanceStartError(f"working directory is not a directory: {working_dir}", uuid=uuid)
    return working_dir


def resolve_command(
    command: Sequence[str], *, search_path: str, cwd: str, uuid: str | None = None
) -> str:
    """The executable that ``command[0]`` names: looked up on *search_path* when it has no
    ``/``, else taken relative to *cwd*. Raises :class:`InstanceStartError` saying why not."""
    if not command or not command[0]:
        raise InstanceStartError("command is empty", uuid=uuid)
    for arg in command:
        if "\0" in arg:
            raise InstanceStartError(f"command argument holds a NUL character: {arg!r}", uuid=uuid)
    program = command[0]
    if "/" not in program:
        found = shutil.which(program, path=search_path)
        if found is None:
            raise InstanceStartError(
                f"command not found: {program!r} (searched PATH={search_path})", uuid=uuid
            )
        return found
    candidate = os.path.join(cwd, program)
    if not os.path.exists(candidate):
        raise InstanceStartError(f"command not found: {program!r}", uuid=uuid)
    if os.path.isdir(candidate):
        raise InstanceStartError(f"command is a directory: {program!r}", uuid=uuid)
    if not os.access(candidate, os.X_OK):
        raise InstanceStartError(f"command is not executable: {program!r}", uuid=uuid)
    return candidate


def spawn_detached(
    command: Sequence[str],
    *,
    executable: str,
    env: Mapping[str, str],
    cwd: str,
    log_path: Path,
    uuid: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start *command* in a new session with stdin from ``/dev/null`` and stdout + stderr
    appended to *log_path*. The caller keeps the :class:`~subprocess.Popen` to reap it."""
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        proc = subprocess.Popen(
            list(command),
            executable=executable,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
    except PermissionError as exc:
        raise InstanceStartError(
            f"command is not executable: {command[0]!r} ({exc.strerror})", uuid=uuid
        ) from exc
    except FileNotFoundError as exc:
        # It vanished between the check and the exec, or its interpreter (#!) is missing.
        raise InstanceStartError(
            f"command not found: {command[0]!r} ({exc.strerror}; a missing #! interpreter "
            "gives this too)",
            uuid=uuid,
        ) from exc
    except OSError as exc:
        raise InstanceStartError(
            f"cannot start {command[0]!r}: {exc.strerror or exc}", uuid=uuid
        ) from exc
    finally:
        os.close(log_fd)
    logger.debug("spawned uuid=%s pid=%s argv0=%s cwd=%s", uuid, proc.pid, executable, cwd)
    return proc
