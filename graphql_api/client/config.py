"""Where the client connects and with which token.

From the environment (`STRONGROOM_URL`, `STRONGROOM_TOKEN`), or a profile
file named with `--profile` / `STRONGROOM_PROFILE`: a TOML file

    url = "https://strongroom.example.com"
    token = "sr_..."

given as a path, or as a name looked up in `$STRONGROOM_PROFILE_DIR`
(default `$XDG_CONFIG_HOME/strongroom/profiles`, i.e.
`~/.config/strongroom/profiles`) as `NAME.toml`. A key the profile leaves out
comes from the environment. A profile holding a token must not be readable by
others (like ssh's keys). The client reads no other file: in particular never
a `.env`, which belongs to the application next to it.

The URL may be the server's base URL or its GraphQL endpoint exactly as
`strongroom serve` prints it (`http://127.0.0.1:8000/graphql`).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from graphql_api.client.errors import ClientConfigError

DEFAULT_URL = "http://127.0.0.1:8000"
URL_VARIABLE = "STRONGROOM_URL"
TOKEN_VARIABLE = "STRONGROOM_TOKEN"
PROFILE_VARIABLE = "STRONGROOM_PROFILE"
PROFILE_DIR_VARIABLE = "STRONGROOM_PROFILE_DIR"
GRAPHQL_PATH = "/graphql"


def normalize_url(url: str, variable: str = URL_VARIABLE) -> str:
    """The server's base URL: no trailing slash, no trailing /graphql."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ClientConfigError(variable, "must be an http:// or https:// URL (e.g. http://127.0.0.1:8000)")
    if parts.query or parts.fragment:
        raise ClientConfigError(variable, "must not have a query or fragment")
    path = parts.path.rstrip("/")
    if path.endswith(GRAPHQL_PATH):
        path = path[: -len(GRAPHQL_PATH)]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class ClientSettings:
    """A server URL (normalized) and a token (never in the repr)."""

    url: str
    token: str = field(repr=False)
    source: str = "environment"

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", normalize_url(self.url))

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, profile: str | None = None) -> ClientSettings:
        """From the profile (`profile`, else STRONGROOM_PROFILE) over the environment."""
        env = os.environ if environ is None else environ
        chosen = profile or (env.get(PROFILE_VARIABLE) or "").strip() or None
        values: dict[str, str] = {}
        source = "environment"
        if chosen is not None:
            path = profile_path(chosen, env)
            values = read_profile(path)
            source = str(path)
        url = values.get("url") or (env.get(URL_VARIABLE) or "").strip() or DEFAULT_URL
        token = values.get("token") or (env.get(TOKEN_VARIABLE) or "").strip()
        if not token:
            where = f" or `token` in {source}" if chosen is not None else ""
            raise ClientConfigError(
                TOKEN_VARIABLE, f"is not set{where}; export an API token (`sr_...`) to use the server"
            )
        variable = f"url in {source}" if values.get("url") else URL_VARIABLE
        return cls(url=normalize_url(url, variable), token=token, source=source)


def profile_path(name: str, environ: Mapping[str, str]) -> Path:
    """A profile given as a path, or the file of that name in the profile directory."""
    candidate = Path(name).expanduser()
    if os.sep in name or name.endswith(".toml") or candidate.is_file():
        return candidate
    base = (environ.get(PROFILE_DIR_VARIABLE) or "").strip()
    if base:
        return Path(base).expanduser() / f"{name}.toml"
    config_home = (environ.get("XDG_CONFIG_HOME") or "").strip() or str(Path.home() / ".config")
    return Path(config_home) / "strongroom" / "profiles" / f"{name}.toml"


def read_profile(path: Path) -> dict[str, str]:
    flag = "--profile"
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ClientConfigError(flag, f"{path} does not exist") from None
    except OSError as exc:
        raise ClientConfigError(flag, f"cannot read {path} ({type(exc).__name__})") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        # The decoder's message may quote the file, which holds a token.
        raise ClientConfigError(flag, f'{path} is not a TOML file of `url = "..."` and `token = "..."`') from None
    values: dict[str, str] = {}
    for key in ("url", "token"):
        value = document.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ClientConfigError(flag, f"{path}: `{key}` must be a string")
        values[key] = value.strip()
    unknown = sorted(set(document) - {"url", "token"})
    if unknown:
        raise ClientConfigError(flag, f"{path}: unknown key(s) {', '.join(unknown)} (only url and token)")
    if "token" in values and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ClientConfigError(flag, f"{path} holds a token and is readable by others; run `chmod 600 {path}`")
    return values
