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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .apikey import key_problem
from .errors import ConfigError, UsageError
from .inputfile import open_input
from .models import DEFAULT_MODEL
from .redact import register_secret

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
    "ledger_url": "where the job ledger lives: postgresql://... to share one among many "
    "machines (default: a SQLite file in the state folder)",
}
DEFAULTS = {
    "base_url": DEFAULT_BASE_URL,
    "format": "wav",
    "stems": "vocal",
    "output_dir": ".",
    "model": DEFAULT_MODEL,
    "ledger_url": "",  # the state folder's ledger.sqlite3
}
ENV_FOR = {
    "base_url": "GSEP_BASE_URL",
    "format": "GSEP_FORMAT",
    "stems": "GSEP_STEMS",
    "output_dir": "GSEP_OUTPUT_DIR",
    "model": "GSEP_MODEL",
    "ledger_url": "GSEP_LEDGER_URL",
}
#: A config file holds a few profiles: anything larger is not one (``/dev/zero``...).
MAX_CONFIG_BYTES = 1024 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def user_dir(kind: str) -> Path:
    """gsep's ``config`` or ``state`` folder: ``$GSEP_<KIND>_DIR``, else
    ``$XDG_<KIND>_HOME/gsep``, else platformdirs' user folder of that kind."""
    for name, suffix in ((f"GSEP_{kind.upper()}_DIR", ()), (f"XDG_{kind.upper()}_HOME", ("gsep",))):
        value = os.environ.get(name)
        if value:
            if "\x00" in value:
                raise ConfigError(f"{name} holds a NUL character", f"Fix or unset {name}")
            try:
                return Path(value).expanduser().joinpath(*suffix)
            except RuntimeError:  # "~someone" with no such user
                raise ConfigError(f"{name}: cannot expand {value!r}", f"Fix {name}") from None
    import platformdirs

    finder = {"config": platformdirs.user_config_dir, "state": platformdirs.user_state_dir}
    return Path(finder[kind]("gsep", appauthor=False))


def config_dir() -> Path:
    """The folder holding ``config.json`` (see the module docstring for the order)."""
    return user_dir("config")


def config_path() -> Path:
    """The config file's path."""
    return config_dir() / "config.json"


def check_base_url(url: str, source: str = "the base URL") -> str:
    """Validate an API base URL: https, or plain http only for loopback hosts; no user
    name or password (they would be shown and sent as Basic auth); no query or fragment.

    ``source`` names where the value came from (e.g. ``env GSEP_BASE_URL``) for the
    message. Raises :class:`~gsep_cli.errors.UsageError`; a URL holding credentials is
    never repeated in it.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise UsageError(
            f"{source} is not a valid URL", "Use e.g. https://restapi.gaudiolab.io/developers/api"
        ) from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UsageError(
            f"{source} holds a user name or password (not repeated here); gsep never sends "
            "credentials in the URL",
            "Remove the 'user:password@' part; the API key goes in GSEP_API_KEY or "
            "gsep config set-key",
        )
    shown = _printable(text)
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(
            f"{source} {shown} is not an http(s) URL",
            "Use e.g. https://restapi.gaudiolab.io/developers/api",
        )
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise UsageError(
            f"{source} {shown} uses plain http on a non-loopback host",
            "Use https (plain http is allowed only for 127.0.0.1, ::1, localhost)",
        )
    if parts.query or parts.fragment:
        raise UsageError(
            f"{source} {shown} must not have a query or fragment",
            "Remove the part from '?' or '#' on",
        )
    if not text.isprintable() or not text.isascii():
        raise UsageError(
            f"{source} {shown} holds characters a URL cannot have",
            "Use e.g. https://restapi.gaudiolab.io/developers/api",
        )
    return text.rstrip("/")


def _printable(text: str, limit: int = 120) -> str:
    """A value for a message: quoted, control characters escaped, at most ``limit``."""
    shown = repr(text[:limit])
    return shown if len(text) <= limit else shown + "..."


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run, each value with the source it came from."""

    profile: str
    base_url: str
    api_key: str | None = field(repr=False)
    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: Why the key found cannot be used (see :func:`key_problem`), if it cannot.
    key_problem: str | None = None

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        return f"Settings(profile={self.profile!r}, base_url={self.base_url!r}, api_key={key})"

    def get(self, name: str) -> str:
        """A setting's value (``base_url``, ``format``, ``stems``, ``output_dir``, ``model``,
        ``ledger_url``: "" for the state folder's ledger)."""
        return self.values[name]

    def require_key(self) -> str:
        """The API key, or a ConfigError that says how to set one (never showing it)."""
        if self.api_key and self.key_problem:
            source = self.sources.get("api_key", "")
            raise ConfigError(
                f"the API key from {_source_name(source, 'api_key')} cannot be used: "
                f"{self.key_problem} (not shown)",
                'Set it again: printf %s "$KEY" | gsep config set-key, or fix GSEP_API_KEY',
            )
        if not self.api_key:
            raise ConfigError(
                "no API key found",
                "Set GSEP_API_KEY (or GAUDIO_API_KEY), or run: gsep config set-key "
                "(try everything without a key: add --sandbox)",
            )
        return self.api_key


def read_config(path: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """The config file's content (empty when absent) and warnings about it.

    Raises :class:`~gsep_cli.errors.ConfigError` naming the file when it cannot be read,
    is not a regular file (refused without blocking), is over :data:`MAX_CONFIG_BYTES`,
    is not UTF-8, is not JSON, or is not a JSON object. Odd values inside it are left to
    the readers (they ignore them) and the writer (which refuses to overwrite them).
    """
    path = path or config_path()
    warnings: list[str] = []
    fix = f"Fix or move away {path} (e.g. mv '{path}' '{path}.broken'), then set values again"
    unreadable = "Check its permissions, or point GSEP_CONFIG_DIR at another folder"
    try:
        info = os.stat(path)
    except FileNotFoundError:  # absent (a dangling link too, as always)
        return {}, warnings
    except OSError as exc:  # a file where the folder should be, a link loop, no access
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror or exc}", unreadable
        ) from None
    if not stat.S_ISREG(info.st_mode):  # never open a FIFO (it blocks) or a device
        what = "Is a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ConfigError(f"cannot read config file {path}: {what}", unreadable)
    try:  # O_NONBLOCK and fstat: a path swapped for a FIFO meanwhile cannot hang either
        with open_input(path) as fh:
            raw_bytes = fh.read(MAX_CONFIG_BYTES + 1)
    except UsageError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.message}", unreadable) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror or exc}", unreadable
        ) from None
    if len(raw_bytes) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES // 1024} KiB", fix)
    with contextlib.suppress(OSError):
        if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"config file {path} is readable by other users; fix it with: chmod 600 {path}"
            )
    try:
        raw = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text", fix) from None
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"config file {path} is not valid JSON ({str(exc)[:120]})", fix) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object", fix)
    return data, warnings


def _profiles(data: dict[str, Any]) -> dict[str, Any]:
    profiles = data.get("profiles")
    return profiles if isinstance(profiles, dict) else {}


def _profile_section(data: dict[str, Any], profile: str) -> dict[str, Any]:
    section = _profiles(data).get(profile)
    return section if isinstance(section, dict) else {}


def check_given(option: str, value: str | None) -> str | None:
    """A flag's value as given: None (not given) passes; an empty (or blank) value is
    refused with a :class:`~gsep_cli.errors.UsageError`, never read as "not given", which
    would send the key to the environment's or the default host. (An empty environment
    variable, by the common convention, counts as unset.)"""
    if value is not None and not value.strip():
        raise UsageError(
            f"{option} was given an empty value", f"Give {option} a value, or leave it out"
        )
    return value


def current_profile(flag: str | None, env: Mapping[str, str] | None = None) -> str:
    """The config profile in effect: ``--profile``, else GSEP_PROFILE (empty: unset), else
    ``default``. Raises UsageError for an empty ``--profile`` (see :func:`check_given`)."""
    env = os.environ if env is None else env
    return check_given("--profile", flag) or env.get("GSEP_PROFILE") or DEFAULT_PROFILE


def load_settings(
    *,
    base_url: str | None = None,
    profile: str | None = None,
    env: dict[str, str] | None = None,
    keyless: bool = False,
) -> Settings:
    """Resolve every setting: flag, then environment, then config profile, then default.

    A config file that cannot be read is an error only when it could matter: when the
    key (``keyless``: none is needed, as with ``--sandbox``) and the base URL both come
    from flags or the environment, it is skipped with a warning. Raises
    :class:`~gsep_cli.errors.ConfigError` naming the file or variable at fault, and
    :class:`~gsep_cli.errors.UsageError` for an empty ``base_url`` or ``profile`` given
    (None: not given; see :func:`check_given`).
    """
    env = dict(os.environ) if env is None else env
    check_given("--base-url", base_url)
    profile = current_profile(profile, env)
    warnings: list[str] = []
    try:
        data, warnings = read_config()
    except ConfigError as exc:
        key_elsewhere = keyless or any(env.get(v, "").strip() for v in KEY_ENV_VARS)
        if not (key_elsewhere and (base_url or env.get(ENV_FOR["base_url"]))):
            raise
        data, warnings = {}, [f"ignoring the config file: {exc.message}"]
    section = _profile_section(data, profile)
    if profile != DEFAULT_PROFILE and not section and data:
        known = ", ".join(sorted(map(str, _profiles(data)))) or "none"
        warnings.append(f"profile {profile!r} is not in the config file (profiles: {known})")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, default in DEFAULTS.items():
        if name == "base_url" and base_url is not None:
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
    where = sources["base_url"]
    try:
        values["base_url"] = check_base_url(values["base_url"], _source_name(where, "base_url"))
    except UsageError as exc:  # a flag is usage (2); the environment or the file, config (3)
        if where.startswith("flag"):
            raise
        raise ConfigError(exc.message, exc.hint) from None
    problem = key_problem(key) if key else None
    if key and not problem:  # from now on no message, log or traceback repeats it
        register_secret(key)
    return Settings(
        profile, values["base_url"], key, values, sources, tuple(warnings), key_problem=problem
    )


def _source_name(source: str, name: str) -> str:
    """How a message names where a value came from: ``--base-url``, ``GSEP_BASE_URL``,
    ``base_url in config profile 'work'``."""
    kind, _, rest = source.partition(" ")
    if kind in ("flag", "env"):
        return rest
    return f"{name} in {source}"


def write_config(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write the config atomically: temp file + rename, the file 0600; a folder gsep
    creates is made 0700 (an existing folder's mode is left alone)."""
    path = path or config_path()
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.name == "posix":  # mkdir's mode is reduced by the umask
                with contextlib.suppress(OSError):
                    os.chmod(path.parent, 0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(
            f"cannot write config file {path}: {exc.strerror or exc}",
            "Check the folder's permissions, or point GSEP_CONFIG_DIR at another folder",
        ) from None
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
    """Set (or, with None, remove) one value of a profile in the config file.

    Refuses (ConfigError naming the file) to rewrite a file whose ``profiles`` or whose
    profile is not a JSON object: what it holds would be lost.
    """
    data, _ = read_config()
    profiles = data.setdefault("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            f"config file {config_path()}: 'profiles' must be an object",
            "Fix or move away the file, then set values again",
        )
    section = profiles.setdefault(profile, {})
    if not isinstance(section, dict):
        raise ConfigError(
            f"config file {config_path()}: profile {profile!r} must be an object",
            "Fix or move away the file, then set values again",
        )
    if value is None:
        section.pop(name, None)
    else:
        section[name] = value
    return write_config(data)
