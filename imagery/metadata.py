"""Acquisition metadata of a local raster: TIFF tags, vendor sidecars, user overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rasterio.io import DatasetReader

from imagery.errors import IngestError


@dataclass(frozen=True)
class Overrides:
    """Values given on the command line; they win over files."""

    date: datetime | None = None
    """Acquisition time (``--date``)."""
    sensor: str | None = None
    """Sensor (``--sensor``)."""
    credit: str | None = None
    """Credit or licence line (``--credit``)."""
    gsd: float | None = None
    """Ground sample distance in metres (``--gsd``)."""


@dataclass(frozen=True)
class SourceMetadata:
    """What is known about a source raster's acquisition."""

    acquired: datetime
    """Acquisition time, UTC."""
    sensor: str
    """Sensor name."""
    gsd_m: float
    """Ground sample distance, metres."""
    credit: str
    """Credit or licence line."""
    off_nadir_deg: float | None
    """Off-nadir angle, degrees."""
    sun_elevation_deg: float | None
    """Sun elevation, degrees."""
    simulated: bool
    """True for the simulated archive."""


def _parse_time(text: str) -> datetime:
    text = text.strip()
    for fmt in ("%Y:%m:%d %H:%M:%S",):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _float(tags: dict[str, str], key: str) -> float | None:
    try:
        return float(tags[key]) if key in tags else None
    except ValueError:
        return None


def read_source_metadata(src: DatasetReader, path: Path, overrides: Overrides) -> SourceMetadata:
    """Metadata of an open source raster; overrides win.

    Raises:
        IngestError: a required field (time, sensor, GSD) is missing, naming the flag.

    Example:
        >>> # with rasterio.open(p) as src: meta = read_source_metadata(src, p, Overrides())
    """
    tags = {k.upper(): v for k, v in src.tags().items()}
    acquired = overrides.date
    if acquired is None:
        for key in ("ACQUISITION_DATETIME", "TIFFTAG_DATETIME"):
            if key in tags:
                try:
                    acquired = _parse_time(tags[key])
                    break
                except ValueError as exc:
                    raise IngestError(
                        f"{path}: tag {key} = {tags[key]!r} is not a date/time; pass --date"
                    ) from exc
    sensor = overrides.sensor or tags.get("SENSOR")
    gsd = overrides.gsd if overrides.gsd is not None else _float(tags, "GSD_M")
    if gsd is None and src.crs is not None and src.crs.is_projected:
        gsd = abs(src.transform.a)
    missing = [
        f"{name} ({flag})"
        for name, flag, value in (
            ("acquisition time", "--date", acquired),
            ("sensor", "--sensor", sensor),
            ("GSD", "--gsd", gsd),
        )
        if value is None
    ]
    if missing:
        raise IngestError(
            f"{path}: missing {', '.join(missing)}: not in the file's tags; "
            "supply the named override flag"
        )
    assert acquired is not None and sensor is not None and gsd is not None
    return SourceMetadata(
        acquired=acquired.astimezone(UTC),
        sensor=sensor,
        gsd_m=float(gsd),
        credit=overrides.credit or tags.get("CREDIT", ""),
        off_nadir_deg=_float(tags, "OFF_NADIR_DEG"),
        sun_elevation_deg=_float(tags, "SUN_ELEVATION_DEG"),
        simulated=tags.get("SIMULATED", "").lower() == "true",
    )
