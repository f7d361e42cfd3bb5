"""The agent's log file: ``/var/log/corral/agent.log`` when writable, else
``<data-dir>/agent.log``; rotated by size. Secrets never reach it: the agent does not log
them, and a filter on every handler masks them should some message carry one anyway."""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

SYSTEM_LOG = Path("/var/log/corral/agent.log")
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replaces each known secret in a record's message by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = {s for s in secrets if s}

    def add(self, *secrets: str | None) -> None:
        self.secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format: the handler reports it
            return True
        masked = message
        for secret in self.secrets:
            if secret in masked:
                masked = masked.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        return True


def _writable(path: Path) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
        return os.access(path, os.W_OK)
    except OSError:
        return False


def choose_log_file(data_dir: Path, explicit: str | None = None) -> Path:
    """``explicit`` if given, else the system log when writable, else the data dir's."""
    if explicit:
        return Path(explicit).resolve()
    if _writable(SYSTEM_LOG):
        return SYSTEM_LOG
    return data_dir / "agent.log"


def setup_logging(data_dir: Path, *, log_file: str | None = None,
                  redact: RedactSecrets | None = None) -> Path:
    """Add the rotating file handler to the root logger and the redaction filter to every
    root handler. Returns the log file's path."""
    path = choose_log_file(data_dir, log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES,
                                                   backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    if redact is not None:
        for h in root.handlers:
            h.addFilter(redact)
    logger.info("logging to %s", path)
    return path
