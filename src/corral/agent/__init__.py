"""The host agent (``corral agent``): registers with a token, subscribes with its agent key
and makes instances real through a runtime driver (:mod:`corral.agent.runtime`)."""

from __future__ import annotations
