"""Which files beside a delivered raster are its vendor metadata (an I/O module)."""

from __future__ import annotations

from pathlib import Path

from imagery.errors import IngestError
from imagery.vendor import airbus as sidecar_airbus
from imagery.vendor import planet as sidecar_planet

_METADATA_EXT = {".imd", ".xml", ".json", ".txt", ".til", ".rpb", ".att", ".eph", ".geo"}
_DERIVED_SUFFIXES = (".aux.xml", ".ovr", ".msk", ".tmp")


def _tile_base(stem: str) -> str:
    """A raster stem without a vendor tile suffix (``…_R1C1``)."""
    parts = stem.rsplit("_", 1)
    if len(parts) == 2 and parts[1].upper().startswith("R") and "C" in parts[1].upper():
        row, _, col = parts[1].upper()[1:].partition("C")
        if row.isdigit() and col.isdigit():
            return parts[0]
    return stem


def _planet_item(name: str) -> str | None:
    """The Planet item id a file name starts with (``20220125_075509_67_1061``), or None."""
    parts = name.split("_")
    if len(parts) < 3 or not (parts[0].isdigit() and len(parts[0]) == 8):
        return None
    if not (parts[1].isdigit() and len(parts[1]) == 6):
        return None
    if parts[2].startswith("ssc") and len(parts) >= 4:
        return "_".join(parts[:4])  # SkySat: 20200130_093253_ssc6_u0001
    if len(parts) >= 4 and parts[2].isdigit() and len(parts[2]) == 2:
        return "_".join(parts[:4])  # PSScene: 20220125_075509_67_1061
    return "_".join(parts[:3])  # PSScene4Band: 20181001_015434_1027


def _belongs(candidate: Path, raster: Path) -> bool:
    name = candidate.name.lower()
    base = _tile_base(raster.stem).lower()
    stem = raster.stem.lower()
    cstem = candidate.stem.lower()
    for prefix in {stem, base}:
        if cstem == prefix or (name.startswith(prefix) and name[len(prefix)] in "._-"):
            return True
    item = _planet_item(raster.name)
    if item and candidate.name.startswith(item) and "metadata" in name:
        return True
    if name.startswith("dim_") and name.endswith(".xml"):
        key = cstem[4:]
        raster_key = base[4:] if base.startswith("img_") else base
        if key and raster_key.startswith(key):
            return True
        listed = {Path(f).stem.lower() for f in sidecar_airbus.data_files(candidate)}
        return stem in listed or base in {_tile_base(s) for s in listed}
    return False


def find_sidecars(raster_path: Path) -> list[Path]:
    """Metadata files beside ``raster_path`` that belong to it, sorted by name.

    A file belongs when it shares the raster's name stem (Maxar ``.IMD``/``.XML``/``.RPB``/
    ``.TIL``/``_README.TXT``, Planet ``…_metadata.xml``), starts with the raster's Planet
    item id and is a ``metadata`` file, or is a ``DIM_*.XML`` naming it. A Planet order
    ``manifest.json`` in the folder or its parent is included when it lists the raster.
    GDAL's own ``.aux.xml`` and overviews are not sidecars.

    Example:
        >>> # find_sidecars(Path("18OCT01022604-M1BS-502541638020_01_P003.TIF"))
        >>> # [PosixPath('…_P003.IMD'), PosixPath('…_P003.RPB'), PosixPath('…_P003_README.TXT')]
    """
    raster_path = Path(raster_path)
    found: list[Path] = []
    folder = raster_path.parent
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise IngestError(f"{folder}: cannot list the raster's folder: {exc.strerror}") from None
    for entry in entries:
        lower = entry.name.lower()
        if entry == raster_path or not entry.is_file() or lower.endswith(_DERIVED_SUFFIXES):
            continue
        if entry.suffix.lower() not in _METADATA_EXT or lower == "manifest.json":
            continue
        if _belongs(entry, raster_path):
            found.append(entry)
    for manifest in (folder / "manifest.json", folder.parent / "manifest.json"):
        if manifest.is_file() and sidecar_planet.manifest_lists(manifest, raster_path.name):
            found.append(manifest)
    return found
