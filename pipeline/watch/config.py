"""The watch configuration: a TOML file read with :mod:`tomllib` (an I/O module).

Example ``watch.toml``::

    facility_dirs = ["definitions"]          # extra definition dirs, relative to this file
    webhooks = ["https://hooks.example.org/campwatch"]   # global: every facility's alerts

    [settings]                               # defaults for every facility
    overlap_days = 10        # search again this far before the newest catalogued capture
    lookback_days = 365      # first search of a facility with nothing catalogued
    resolution = 10.0        # grid of new facility workspaces (m); never guessed
    min_clear = 0.6          # AOI clear fraction below which a capture is not used
    min_alert_score = 0.0    # alerts scoring below this are recorded but not sent
    search_timeout_s = 30.0  # one STAC request; retried search_retries times with backoff
    search_retries = 4
    search_backoff_s = 1.0
    webhook_timeout_s = 10.0
    webhook_retries = 3
    webhook_backoff_s = 1.0
    webhook_deadline_s = 60.0

    [providers.earth-search]                 # a named provider
    type = "earth-search"                    # earth-search | planetary-computer | stac
    collections = ["sentinel-2-l2a"]
    max_cloud = 80

    [facilities.kangdong-kyohwaso-4]         # optional: facilities to watch (selection.py)
    providers = ["earth-search"]             # default: every configured provider
    webhooks = [{ url = "https://example.org/hook", min_score = 6.0,
                  headers = { Authorization = "env:CAMPWATCH_HOOK_TOKEN" } }]
    overlap_days = 20                        # any [settings] key may be overridden here

Unknown keys are errors (a typo in an unattended job must not pass silently);
every error names the file, the key and the value.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from facilities.grid import DEFAULT_SNAP_M
from pipeline.errors import WatchConfigError

PROVIDER_TYPES = ("earth-search", "planetary-computer", "stac")
"""Provider types a config may name (see :mod:`imagery.stac.providers`)."""
DEFAULT_COLLECTIONS = {
    "earth-search": ("sentinel-2-l2a",),
    "planetary-computer": ("sentinel-2-l2a",),
}
"""Collections searched when a built-in provider is named without a config."""
MAX_RETRIES = 20
"""Most retries a config may ask for (more would outlast any pass's deadline)."""
CONFIG_NAME = "watch.toml"
"""The config file looked for in the workspace when ``--config`` is not given."""


@dataclass(frozen=True)
class WatchSettings:
    """Thresholds and limits of a watch pass (global, overridable per facility)."""

    overlap_days: float = 10.0
    """Search again this many days before the newest catalogued capture (late publication)."""
    lookback_days: float = 365.0
    """How far back the first search of a facility reaches."""
    resolution: float | None = None
    """Grid resolution (m) for facility workspaces that do not exist yet."""
    min_clear: float = 0.6
    """AOI clear fraction below which a capture is catalogued but not used."""
    method: str = "default"
    """Change detection method."""
    min_area_m2: float | None = None
    """Minimum mapping unit of change objects (None: the detector's default)."""
    min_alert_score: float = 0.0
    """Alerts scoring below this go to ``alerts.jsonl`` but are not sent to webhooks."""
    search_timeout_s: float = 30.0
    """Connect/read timeout of one STAC API request."""
    search_retries: int = 4
    """Retries of a failed STAC API request (429, 5xx, connection errors, timeouts)."""
    search_backoff_s: float = 1.0
    """Backoff factor of those retries: waits backoff * 2**(n-1) seconds."""
    webhook_timeout_s: float = 10.0
    """Connect/read timeout of one webhook POST."""
    webhook_retries: int = 3
    """Retries of a failed POST within one pass (then retried on the next pass)."""
    webhook_backoff_s: float = 1.0
    """Wait before retry n: backoff * 2**(n-1) seconds."""
    webhook_deadline_s: float = 60.0
    """At most this long is spent waiting for deliveries at the end of a pass."""


_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "overlap_days": (int, float),
    "lookback_days": (int, float),
    "resolution": (int, float),
    "min_clear": (int, float),
    "method": (str,),
    "min_area_m2": (int, float),
    "min_alert_score": (int, float),
    "search_timeout_s": (int, float),
    "search_retries": (int,),
    "search_backoff_s": (int, float),
    "webhook_timeout_s": (int, float),
    "webhook_retries": (int,),
    "webhook_backoff_s": (int, float),
    "webhook_deadline_s": (int, float),
}


@dataclass(frozen=True)
class ProviderSpec:
    """One configured imagery provider."""

    name: str
    """Name used in the config and with ``--provider``."""
    kind: str
    """"earth-search", "planetary-computer" or "stac"."""
    collections: tuple[str, ...]
    """STAC collections searched."""
    url: str | None = None
    """API root (required for "stac"; default public API otherwise)."""
    max_cloud: float | None = None
    """Skip items whose scene cloud cover exceeds this (percent)."""


@dataclass(frozen=True)
class WebhookSpec:
    """Where alerts are POSTed."""

    url: str
    """The endpoint (http or https)."""
    min_score: float | None = None
    """Only alerts scoring at least this are sent (None: the ``min_alert_score`` setting)."""
    headers: dict[str, str] = field(default_factory=dict, compare=False)
    """Extra headers; a value "env:NAME" is read from the environment at send time."""
    name: str | None = None
    """Stable name of the endpoint (default: the URL without query, fragment and user-info).
    Give one when the URL's path itself holds a secret."""

    @property
    def endpoint(self) -> str:
        """The endpoint's identity: what ledgers, logs and reports show (never a secret)."""
        return endpoint_id(self.url, self.name)


def endpoint_id(url: str, name: str | None = None) -> str:
    """A webhook's identity without secrets: ``name``, else scheme, host, port and path.

    Tokens belong in the query string, the user-info or a header ("env:NAME"): rotating
    them keeps the identity, so nothing already delivered is sent again.

    Example:
        >>> endpoint_id("https://u:pw@hooks.example.org:8443/campwatch?token=s3cret#x")
        'https://hooks.example.org:8443/campwatch'
        >>> endpoint_id("https://hooks.slack.com/services/T0/B0/s3cret", "slack-ops")
        'slack-ops'
    """
    if name:
        return name
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class FacilityPlan:
    """What the watch does for one facility: config resolved for it."""

    facility_id: str
    """The facility."""
    providers: tuple[ProviderSpec, ...]
    """Providers searched for it."""
    webhooks: tuple[WebhookSpec, ...]
    """Global then per-facility webhooks."""
    settings: WatchSettings
    """Global settings with the facility's overrides."""


@dataclass(frozen=True)
class WatchConfig:
    """A parsed watch config."""

    path: Path | None = None
    """The file it came from (None: defaults)."""
    settings: WatchSettings = field(default_factory=WatchSettings)
    """Global settings."""
    providers: dict[str, ProviderSpec] = field(default_factory=dict)
    """Configured providers by name."""
    webhooks: tuple[WebhookSpec, ...] = ()
    """Global webhooks."""
    facility_dirs: tuple[Path, ...] = ()
    """Extra facility definition directories."""
    facilities: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-facility sections, raw but validated (``providers``, ``webhooks``, settings)."""

    def plan(self, facility_id: str, only_providers: tuple[str, ...] = ()) -> FacilityPlan:
        """The resolved plan of one facility, optionally limited to ``only_providers``.

        Raises:
            WatchConfigError: a provider named by the facility or ``--provider`` that is
                neither configured nor built in, or no provider at all.

        Example:
            >>> WatchConfig().plan("f", ("earth-search",)).providers[0].collections
            ('sentinel-2-l2a',)
        """
        section = self.facilities.get(facility_id, {})
        where = f"{self.path or '<no config>'}"
        names = tuple(section.get("providers", ())) or tuple(self.providers)
        if only_providers:
            names = only_providers
        specs = []
        for name in names:
            spec = self.providers.get(name)
            if spec is None and name in DEFAULT_COLLECTIONS:
                spec = ProviderSpec(name, name, DEFAULT_COLLECTIONS[name])
            if spec is None:
                raise WatchConfigError(
                    f"{where}: provider {name!r} (facility {facility_id!r}) is not configured; "
                    f"configured: {sorted(self.providers)}; built in without config: "
                    f"{sorted(DEFAULT_COLLECTIONS)}"
                )
            specs.append(spec)
        if not specs:
            raise WatchConfigError(
                f"{where}: no provider for facility {facility_id!r}: add a [providers.NAME] "
                "section or pass --provider"
            )
        overrides = {k: v for k, v in section.items() if k in _SETTING_TYPES}
        settings = dataclasses.replace(self.settings, **overrides)
        hooks = self.webhooks + tuple(section.get("webhooks", ()))
        return FacilityPlan(facility_id, tuple(specs), hooks, settings)


def _err(path: Path, key: str, value: Any, problem: str) -> WatchConfigError:
    return WatchConfigError(f"{path}: key {key!r} = {value!r}: {problem}")


def _settings_values(path: Path, prefix: str, table: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in table.items():
        types = _SETTING_TYPES.get(key)
        if types is None:
            continue
        dotted = f"{prefix}{key}"
        if isinstance(raw, bool) or not isinstance(raw, types):
            names = " or ".join(
                "an integer" if t is int and len(types) == 1
                else "a number" if t in (int, float) else "a string"
                for t in types[:1]
            )
            raise _err(path, dotted, raw, f"must be {names}")
        if key == "method":
            # imported here: the detectors pull in scipy, which a config without a method
            # (and a pass refused by the lock) never needs
            from pipeline.change.records import METHODS

            if raw not in METHODS:
                raise _err(path, dotted, raw, f"unknown change detection method (one of "
                           f"{', '.join(METHODS)})")
            out[key] = str(raw)
            continue
        value = float(table[key])
        if key == "min_alert_score":
            out[key] = value
            continue
        positive = key in (
            "resolution", "webhook_timeout_s", "webhook_deadline_s", "search_timeout_s"
        )
        if value < 0 or (positive and value <= 0):
            raise _err(path, dotted, raw, "must be positive" if positive else "must be >= 0")
        if key == "min_clear" and value > 1:
            raise _err(path, dotted, raw, "is a fraction (0..1)")
        ratio = DEFAULT_SNAP_M / value if value > 0 else 0.0
        if key == "resolution" and abs(ratio - round(ratio)) > 1e-9:
            raise _err(path, dotted, raw, f"must divide {DEFAULT_SNAP_M:g} m (e.g. 0.5, 1, 10, 30)")
        if key in ("webhook_retries", "search_retries") and value > MAX_RETRIES:
            raise _err(path, dotted, raw, f"must be at most {MAX_RETRIES}")
        out[key] = int(value) if key in ("webhook_retries", "search_retries") else value
    return out


def _check_keys(path: Path, prefix: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise _err(path, f"{prefix}{key}", value, f"unknown key (allowed: {sorted(allowed)})")


def _str_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _err(path, key, value, "must be a list of non-empty strings")
    return tuple(value)


def _webhooks(path: Path, key: str, value: Any) -> tuple[WebhookSpec, ...]:
    if not isinstance(value, list):
        raise _err(path, key, value, "must be a list of URLs or {url = ...} tables")
    hooks = []
    for i, entry in enumerate(value):
        dotted = f"{key}[{i}]"
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict):
            raise _err(path, dotted, entry, "must be a URL or a {url = ...} table")
        _check_keys(path, f"{dotted}.", entry, {"url", "min_score", "headers", "name"})
        url = entry.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            shown = url.split("?", 1)[0] if isinstance(url, str) else url  # no query secrets
            raise _err(path, f"{dotted}.url", shown, "must be an http:// or https:// URL")
        min_score = entry.get("min_score")
        if min_score is not None and (
            isinstance(min_score, bool) or not isinstance(min_score, int | float)
        ):
            raise _err(path, f"{dotted}.min_score", min_score, "must be a number")
        headers = entry.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            shown_keys = sorted(map(str, headers)) if isinstance(headers, dict) else "…"
            raise _err(path, f"{dotted}.headers", shown_keys,  # values may be secrets
                       "must be a table of strings")
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise _err(path, f"{dotted}.name", name, "must be a non-empty string")
        try:
            endpoint_id(url)
        except ValueError as exc:
            shown = url.split("?", 1)[0]
            raise _err(path, f"{dotted}.url", shown, f"is not a URL: {exc}") from None
        hooks.append(
            WebhookSpec(url, None if min_score is None else float(min_score), dict(headers), name)
        )
    return tuple(hooks)


def _provider(path: Path, name: str, table: Any) -> ProviderSpec:
    prefix = f"providers.{name}"
    if not isinstance(table, dict):
        raise _err(path, prefix, table, "must be a table")
    _check_keys(path, f"{prefix}.", table, {"type", "url", "collections", "max_cloud"})
    kind = table.get("type", name)
    if kind not in PROVIDER_TYPES:
        raise _err(path, f"{prefix}.type", kind, f"must be one of {list(PROVIDER_TYPES)}")
    url = table.get("url")
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://", url)):
        raise _err(path, f"{prefix}.url", url, "must be an http:// or https:// URL")
    if kind == "stac" and url is None:
        raise _err(path, f"{prefix}.url", url, "is required for type 'stac'")
    collections = (
        _str_list(path, f"{prefix}.collections", table["collections"])
        if "collections" in table
        else DEFAULT_COLLECTIONS.get(kind, ())
    )
    if not collections:
        raise _err(path, f"{prefix}.collections", None, "name at least one collection")
    max_cloud = table.get("max_cloud")
    if max_cloud is not None and (
        isinstance(max_cloud, bool)
        or not isinstance(max_cloud, int | float)
        or not 0 <= max_cloud <= 100
    ):
        raise _err(path, f"{prefix}.max_cloud", max_cloud, "must be a percentage (0..100)")
    return ProviderSpec(
        name, kind, collections, url, None if max_cloud is None else float(max_cloud)
    )


def load_watch_config(path: Path) -> WatchConfig:
    """Read and check a watch config file.

    Raises:
        WatchConfigError: unreadable file, bad TOML, unknown key or bad value (names the
            file, key and value).

    Example:
        >>> # cfg = load_watch_config(Path("watch.toml")); cfg.plan("kangdong-kyohwaso-4")
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WatchConfigError(f"{path}: cannot read the watch config: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise WatchConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise WatchConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    _check_keys(path, "", raw, {"facility_dirs", "webhooks", "settings", "providers", "facilities"})
    settings_table = raw.get("settings", {})
    if not isinstance(settings_table, dict):
        raise _err(path, "settings", settings_table, "must be a table")
    _check_keys(path, "settings.", settings_table, set(_SETTING_TYPES))
    settings = WatchSettings(**_settings_values(path, "settings.", settings_table))
    providers_table = raw.get("providers", {})
    if not isinstance(providers_table, dict):
        raise _err(path, "providers", providers_table, "must be a table of [providers.NAME]")
    providers = {n: _provider(path, n, t) for n, t in providers_table.items()}
    dirs = tuple(
        (path.parent / d) for d in _str_list(path, "facility_dirs", raw.get("facility_dirs", []))
    )
    webhooks = _webhooks(path, "webhooks", raw.get("webhooks", []))
    facilities_table = raw.get("facilities", {})
    if not isinstance(facilities_table, dict):
        raise _err(path, "facilities", facilities_table, "must be a table of [facilities.ID]")
    facilities: dict[str, dict[str, Any]] = {}
    for fid, table in facilities_table.items():
        prefix = f"facilities.{fid}"
        if not isinstance(table, dict):
            raise _err(path, prefix, table, "must be a table")
        _check_keys(path, f"{prefix}.", table, {"providers", "webhooks", *_SETTING_TYPES})
        section: dict[str, Any] = _settings_values(path, f"{prefix}.", table)
        if "providers" in table:
            names = _str_list(path, f"{prefix}.providers", table["providers"])
            for n in names:
                if n not in providers and n not in DEFAULT_COLLECTIONS:
                    raise _err(
                        path, f"{prefix}.providers", n,
                        f"is not a configured provider ({sorted(providers)})",
                    )
            section["providers"] = names
        if "webhooks" in table:
            section["webhooks"] = _webhooks(path, f"{prefix}.webhooks", table["webhooks"])
        facilities[fid] = section
    return WatchConfig(path, settings, providers, webhooks, dirs, facilities)


def find_watch_config(config: Path | None, workspace: Path) -> WatchConfig:
    """The config named by ``--config``, else ``WORKSPACE/watch.toml``, else the defaults.

    Example:
        >>> find_watch_config(None, Path("/nonexistent")).path is None
        True
    """
    if config is not None:
        return load_watch_config(config)
    default = Path(workspace) / CONFIG_NAME
    return load_watch_config(default) if default.is_file() else WatchConfig()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Parse "30s", "15m", "6h" or "1d".

    Raises:
        WatchConfigError: anything else, or a zero duration.

    Example:
        >>> parse_duration("6h")
        datetime.timedelta(seconds=21600)
    """
    m = _DURATION.match(text)
    if not m:
        raise WatchConfigError(
            f"duration {text!r} is not a number followed by s, m, h or d (e.g. 6h)"
        )
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise WatchConfigError(f"duration {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def header_values(hook: WebhookSpec) -> dict[str, str]:
    """The hook's headers with "env:NAME" values read from the environment (missing: "")."""
    return {
        k: (os.environ.get(v[4:], "") if v.startswith("env:") else v)
        for k, v in hook.headers.items()
    }
