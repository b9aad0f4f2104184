"""One loader for settings and the API key: flag → environment → config file.

The config file is JSON (stdlib only, readable and writable on every Python we support)
at ``<config dir>/config.json``; the folder is created 0700 and the file written 0600
through a temporary file and an atomic rename. The key never appears in ``repr``.

Config dir: ``$GSEP_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/gsep`` when that is set, else
platformdirs' user config dir for ``gsep``.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, UsageError
from .models import DEFAULT_MODEL

DEFAULT_BASE_URL = "https://restapi.gaudiolab.io/developers/api"
DEFAULT_PROFILE = "default"
KEY_ENV_VARS = ("GSEP_API_KEY", "GAUDIO_API_KEY")
#: Settings that ``gsep config set/get`` manage (the key has its own command).
SETTABLE = {
    "base_url": "API base URL",
    "format": "default download format: wav, mp3 or both",
    "stems": "default stems, e.g. vocal,drum",
    "output_dir": "default output folder",
    "model": "default model",
}
DEFAULTS = {
    "base_url": DEFAULT_BASE_URL,
    "format": "wav",
    "stems": "vocal",
    "output_dir": ".",
    "model": DEFAULT_MODEL,
}
ENV_FOR = {
    "base_url": "GSEP_BASE_URL",
    "format": "GSEP_FORMAT",
    "stems": "GSEP_STEMS",
    "output_dir": "GSEP_OUTPUT_DIR",
    "model": "GSEP_MODEL",
}
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def user_dir(kind: str) -> Path:
    """gsep's ``config`` or ``state`` folder: ``$GSEP_<KIND>_DIR``, else
    ``$XDG_<KIND>_HOME/gsep``, else platformdirs' user folder of that kind."""
    override = os.environ.get(f"GSEP_{kind.upper()}_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get(f"XDG_{kind.upper()}_HOME")
    if xdg:
        return Path(xdg).expanduser() / "gsep"
    import platformdirs

    finder = {"config": platformdirs.user_config_dir, "state": platformdirs.user_state_dir}
    return Path(finder[kind]("gsep", appauthor=False))


def config_dir() -> Path:
    """The folder holding ``config.json`` (see the module docstring for the order)."""
    return user_dir("config")


def config_path() -> Path:
    """The config file's path."""
    return config_dir() / "config.json"


def mask_key(key: str) -> str:
    """Show at most the last 4 characters of a key (all of it hidden when short)."""
    if len(key) <= 8:
        return "*" * 8
    return "*" * 8 + key[-4:]


def check_base_url(url: str) -> str:
    """Validate an API base URL: https, or plain http only for loopback hosts."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"base URL {url!r} is not an http(s) URL",
            "Use e.g. https://restapi.gaudiolab.io/developers/api",
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise UsageError(
            f"base URL {url!r} uses plain http on a non-loopback host",
            "Use https (plain http is allowed only for 127.0.0.1, ::1, localhost)",
        )
    if parts.query or parts.fragment:
        raise UsageError(
            f"base URL {url!r} must not have a query or fragment",
            "Remove the part from '?' or '#' on",
        )
    return url.strip().rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run, each value with the source it came from."""

    profile: str
    base_url: str
    api_key: str | None = field(repr=False)
    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        return f"Settings(profile={self.profile!r}, base_url={self.base_url!r}, api_key={key})"

    def get(self, name: str) -> str:
        """A setting's value (``base_url``, ``format``, ``stems``, ``output_dir``, ``model``)."""
        return self.values[name]

    def require_key(self) -> str:
        """The API key, or a ConfigError that says how to set one."""
        if not self.api_key:
            raise ConfigError(
                "no API key found",
                "Set GSEP_API_KEY (or GAUDIO_API_KEY), or run: gsep config set-key "
                "(try everything without a key: add --sandbox)",
            )
        return self.api_key


def read_config(path: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """The config file's content (empty when absent) and warnings about it."""
    path = path or config_path()
    warnings: list[str] = []
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, warnings
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if os.name == "posix":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"config file {path} is readable by other users; fix it with: chmod 600 {path}"
            )
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ConfigError(
            f"config file {path} is not valid JSON ({exc})",
            "Fix or delete the file, then run gsep config set-key again",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return data, warnings


def _profile_section(data: dict[str, Any], profile: str) -> dict[str, Any]:
    profiles = data.get("profiles")
    section = profiles.get(profile) if isinstance(profiles, dict) else None
    return section if isinstance(section, dict) else {}


def load_settings(
    *, base_url: str | None = None, profile: str | None = None, env: dict[str, str] | None = None
) -> Settings:
    """Resolve every setting: flag, then environment, then config profile, then default."""
    env = dict(os.environ) if env is None else env
    profile = profile or env.get("GSEP_PROFILE") or DEFAULT_PROFILE
    data, warnings = read_config()
    section = _profile_section(data, profile)
    if profile != DEFAULT_PROFILE and not section and data:
        known = ", ".join(sorted((data.get("profiles") or {}).keys())) or "none"
        warnings.append(f"profile {profile!r} is not in the config file (profiles: {known})")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, default in DEFAULTS.items():
        if name == "base_url" and base_url:
            values[name], sources[name] = base_url, "flag --base-url"
        elif env.get(ENV_FOR[name]):
            values[name], sources[name] = env[ENV_FOR[name]], f"env {ENV_FOR[name]}"
        elif isinstance(section.get(name), str) and section[name]:
            values[name], sources[name] = section[name], f"config profile {profile!r}"
        else:
            values[name], sources[name] = default, "default"
    key: str | None = None
    for var in KEY_ENV_VARS:
        if env.get(var, "").strip():
            key, sources["api_key"] = env[var].strip(), f"env {var}"
            break
    else:
        stored = section.get("api_key")
        if isinstance(stored, str) and stored.strip():
            key, sources["api_key"] = stored.strip(), f"config profile {profile!r}"
        else:
            sources["api_key"] = "not set"
    values["base_url"] = check_base_url(values["base_url"])
    return Settings(profile, values["base_url"], key, values, sources, tuple(warnings))


def write_config(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write the config atomically: folder 0700, file 0600, temp file + rename."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        with contextlib.suppress(OSError):
            os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def set_profile_value(profile: str, name: str, value: str | None) -> Path:
    """Set (or, with None, remove) one value of a profile in the config file."""
    data, _ = read_config()
    profiles = data.setdefault("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError("config file: 'profiles' must be an object")
    section = profiles.setdefault(profile, {})
    if value is None:
        section.pop(name, None)
    else:
        section[name] = value
    return write_config(data)
