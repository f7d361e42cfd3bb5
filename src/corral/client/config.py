"""Where the client finds its server and key.

Each of the URL, access key and secret key comes from the first of: an explicit argument
(a CLI flag), the environment (``CATTLE_URL``, ``CATTLE_ACCESS_KEY``,
``CATTLE_SECRET_KEY``), the config file written by ``corral login``. The file is
``$CORRAL_CONFIG`` if set, else ``$XDG_CONFIG_HOME/corral/config.json`` (default
``~/.config/corral/config.json``); it is written with mode 0600, its folder 0700.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from corral.client.errors import URL_HINT, ConfigError

__all__ = ["ClientConfig", "api_base", "config_path", "load_file", "resolve", "save"]

ENV_URL, ENV_ACCESS, ENV_SECRET = "CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    url: str
    access_key: str | None = None
    secret_key: str | None = None

    @property
    def base_url(self) -> str:
        return api_base(self.url)

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.access_key and self.secret_key:
            return self.access_key, self.secret_key
        return None


def api_base(url: str) -> str:
    """The API root for ``url``: ``http://h:p`` → ``http://h:p/v1``.

    A URL whose path already holds a ``v1`` segment (``…/v1``, ``…/v1/projects/1a5``) is kept
    as it is; any other path gets ``/v1`` appended.
    """
    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ConfigError(f"{url!r} is not a URL; {URL_HINT}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{url!r} is not an http(s) URL with a host; {URL_HINT}")
    path = parsed.path.rstrip("/")
    if "v1" not in path.split("/"):
        path = f"{path}/v1"
    return str(parsed.copy_with(path=path, query=None, fragment=None))


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("CORRAL_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "corral" / "config.json"


def load_file(path: Path) -> dict[str, str]:
    """The saved settings (``{}`` when there is no file)."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}; run `corral login` again") \
            from None
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; run `corral login` again") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object; run `corral login` again")
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


def resolve(url: str | None = None, access_key: str | None = None,
            secret_key: str | None = None, *, env: Mapping[str, str] | None = None,
            require_key: bool = True) -> ClientConfig:
    """Arguments, else environment, else config file; :class:`ConfigError` if incomplete."""
    env = os.environ if env is None else env
    saved: dict[str, str] | None = None

    def pick(given: str | None, env_name: str, file_key: str) -> str | None:
        nonlocal saved
        if given:
            return given
        if env.get(env_name):
            return env[env_name]
        if saved is None:
            saved = load_file(config_path(env))
        return saved.get(file_key) or None

    final_url = pick(url, ENV_URL, "url")
    if not final_url:
        raise ConfigError("no server URL: pass --url, set CATTLE_URL, or run `corral login`")
    api_base(final_url)  # a bad URL is reported here, before any request
    access = pick(access_key, ENV_ACCESS, "accessKey")
    secret = pick(secret_key, ENV_SECRET, "secretKey")
    if require_key and not (access and secret):
        missing = "access key" if not access else "secret key"
        raise ConfigError(f"no {missing}: pass --access-key/--secret-key, set "
                          "CATTLE_ACCESS_KEY/CATTLE_SECRET_KEY, or run `corral login`")
    return ClientConfig(final_url, access, secret)


def save(config: ClientConfig, path: Path | None = None) -> Path:
    """Write ``config`` to the config file (mode 0600, atomically) and return its path."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = json.dumps({"url": config.url, "accessKey": config.access_key,
                       "secretKey": config.secret_key}, indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
