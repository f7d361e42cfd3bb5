"""Telling whether a pid is still *our* process, through ``/proc``.

A pid alone is not an identity: after a process dies the kernel hands its number to the next
process. The start time in ``/proc/<pid>/stat`` (field 22, clock ticks since boot) does not
change during a process's life, so ``(pid, start time)`` names one process for the whole
uptime of the machine. Where ``/proc`` is missing the check falls back to ``kill(pid, 0)``.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` corral needs."""

    state: str  # R, S, D, Z (zombie), X (dead), T, …
    ppid: int
    start_time: int  # clock ticks after boot

    @property
    def defunct(self) -> bool:
        """Exited but not yet reaped by its parent: as good as dead."""
        return self.state in ("Z", "X")


def parse_stat(text: str) -> ProcStat:
    """Parse the text of ``/proc/<pid>/stat``. The command name (field 2) is in parentheses
    and may itself hold spaces or parentheses, so fields are counted after the *last* ``)``."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state), so field N is rest[N - 3].
    return ProcStat(state=rest[0], ppid=int(rest[1]), start_time=int(rest[19]))


def have_procfs() -> bool:
    return (PROC / "self" / "stat").exists()


def read_stat(pid: int) -> ProcStat | None:
    """The stat of *pid*, or ``None`` if there is no such process (or no ``/proc``)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except OSError as exc:  # e.g. permission trouble on hardened /proc
        logger.debug("cannot read /proc/%s/stat: %s", pid, exc)
        return None
    try:
        return parse_stat(text)
    except (ValueError, IndexError):
        logger.warning("unparsable /proc/%s/stat: %r", pid, text[:200])
        return None


def start_time_of(pid: int) -> int | None:
    stat = read_stat(pid)
    return None if stat is None else stat.start_time


def pid_exists(pid: int) -> bool:
    """``kill(pid, 0)``: true when some process has this pid (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_same_process_alive(pid: int, start_time: int | None) -> bool:
    """True when *pid* runs, is not a zombie, and is the process that started at
    *start_time*. With ``/proc`` present a ``None`` start time never matches."""
    if pid <= 0:
        return False
    if not have_procfs():
        return pid_exists(pid)
    stat = read_stat(pid)
    if stat is None or stat.defunct:
        return False
    return start_time is not None and stat.start_time == start_time


def exit_code_from_status(status: int) -> int:
    """A ``waitpid`` status as a shell would report it: the exit code, or 128 + signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def exit_code_from_returncode(returncode: int) -> int:
    """A :class:`subprocess.Popen` return code (negative for signals) in shell form."""
    return 128 - returncode if returncode < 0 else returncode


def try_reap(pid: int) -> int | None:
    """If *pid* is an exited child of this process, reap it and return its exit code in shell
    form; otherwise ``None`` (still running, or not our child)."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if reaped == 0:
        return None
    return exit_code_from_status(status)


def signal_group(pid: int, sig: signal.Signals) -> bool:
    """Send *sig* to the process group led by *pid*; false if the group is gone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        logger.warning("not permitted to signal process group %s with %s", pid, sig.name)
        return False
    return True
