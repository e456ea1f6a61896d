"""Ingest local rasters (vendor deliveries, the simulated archive) onto a facility grid.

For each file: hash the original, read its metadata, warp it block by block onto
the facility grid as float32 reflectance (a COG), derive a clear-sky mask,
measure clear fractions per zone, then add the capture to the catalogue in one
transaction. A failure leaves neither a catalogue row nor a stored raster.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.errors import RasterioError
from rasterio.features import shapes
from rasterio.io import DatasetReader
from rasterio.windows import Window
from shapely.geometry import Polygon, shape

from facilities.grid import FacilityGrid
from facilities.model import Facility
from imagery import __version__ as campwatch_version
from imagery.capture import BANDS, Capture, safe_id
from imagery.catalogue import open_catalogue
from imagery.errors import ImageryError, IngestError
from imagery.masks.choose import MaskOptions, check_analyst_mask, clear_sky, mask_conflicts
from imagery.masks.rules import MaskParams, clear_mask, coarse_mean
from imagery.quality import DEFAULT_MIN_CLEAR, assess_quality, region_boxes
from imagery.store import check_blocks, error_causes, grid_raster_writer, sha256_file
from imagery.vendor.metadata import (
    Overrides,
    VendorMetadata,
    overrides_for,
    read_vendor_metadata,
)
from imagery.warp import DEFAULT_BLOCK, warp_blocks
from imagery.workspace import FacilityWorkspace

log = logging.getLogger(__name__)

MASK_RESOLUTION_M = 4.0
"""Clouds are large: the clear-sky mask is computed at this resolution (or the grid's)."""


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did, file by file."""

    added: tuple[Capture, ...] = ()
    """Captures newly catalogued."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(path, reason) of files already catalogued."""
    failed: tuple[tuple[str, str], ...] = ()
    """(path, reason) of files that could not be ingested."""


def _band_indexes(src: DatasetReader, path: Path) -> list[int]:
    """1-based indexes of blue, green, red, nir.

    By band description first; else, for four bands, by colour interpretation where the file
    names red, green and blue (an RGB+NIR product such as NAIP: the fourth, untagged band is
    near-infrared; an RGBA product has no near-infrared and is refused); else the first four
    in blue, green, red, nir order.
    """
    desc = [(d or "").strip().lower() for d in src.descriptions]
    if all(b in desc for b in BANDS):
        return [desc.index(b) + 1 for b in BANDS]
    if src.count == 4:
        interp = [ci.name for ci in src.colorinterp]
        if not {"red", "green", "blue"} <= set(interp):
            return [1, 2, 3, 4]
        rgb = [interp.index(b) + 1 for b in ("blue", "green", "red")]
        (rest,) = [i for i in range(1, 5) if i not in rgb]
        if interp[rest - 1] in ("undefined", "gray"):
            log.warning(
                "%s: no band descriptions; bands %s are blue, green, red by their colour "
                "interpretation %s, band %d is taken as near-infrared", path, rgb, interp, rest
            )
            return [*rgb, rest]
        raise IngestError(
            f"{path}: colour interpretation {interp} and band descriptions "
            f"{list(src.descriptions)}: band {rest} is {interp[rest - 1]}, so the file has no "
            "near-infrared band (a visual RGB product); campwatch needs blue, green, red and "
            "near-infrared. If band 4 really is near-infrared (GDAL tags any 4-band 8-bit "
            "GeoTIFF red, green, blue, alpha unless told otherwise), describe the bands, e.g. "
            "`rio edit-info --bidx 1 --description blue FILE` and likewise green, red, nir"
        )
    raise IngestError(
        f"{path}: has {src.count} band(s) with descriptions {list(src.descriptions)}; campwatch "
        "needs blue, green, red and near-infrared: 4 bands in that order, or bands described "
        "'blue', 'green', 'red', 'nir' (an 8-band product's band order is not guessed)"
    )


def _scale_offset(
    src: DatasetReader, indexes: Sequence[int], path: Path, *, warn: bool = True
) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    scales = tuple(float(src.scales[i - 1]) for i in indexes)
    offsets = tuple(float(src.offsets[i - 1]) for i in indexes)
    n = len(indexes)
    if any(s != 1.0 for s in scales) or any(o != 0.0 for o in offsets):
        return scales, offsets, f"band scales {scales} and offsets {offsets} from the file"
    kind = np.dtype(src.dtypes[indexes[0] - 1])
    if kind == np.uint16 or kind == np.int16:
        if warn:
            log.warning("%s: no band scale in the file; ASSUMING reflectance x 10000", path)
        return (1e-4,) * n, (0.0,) * n, (
            "DN / 10000 ASSUMED (no scale in the file; the usual reflectance x 10000 convention:"
            " top-of-atmosphere for Sentinel-2 L1C, surface reflectance for L2A; uncalibrated"
            " vendor DN would be relative brightness only)"
        )
    if kind == np.uint8:
        return (1 / 255,) * n, (0.0,) * n, (
            "DN / 255 (8-bit product: relative brightness, not reflectance)"
        )
    return (1.0,) * n, (0.0,) * n, "values taken as reflectance"


def _footprint(valid: np.ndarray, grid: FacilityGrid, f: int) -> Polygon:
    transform = grid.transform @ Affine.scale(f, f)
    polys = [
        shape(geom)
        for geom, val in shapes(valid.astype(np.uint8), mask=valid, transform=transform)
        if val == 1
    ]
    if not polys:
        return Polygon()
    merged = shapely.union_all(polys).simplify(grid.resolution * f)
    if merged.is_empty:
        return Polygon()
    if not isinstance(merged, Polygon):
        merged = merged.convex_hull
    assert isinstance(merged, Polygon)
    return Polygon(merged.exterior)


def _conflicts(known: Capture, overrides: Overrides) -> list[str]:
    """The overrides that contradict what a catalogued capture of the same file says."""
    out = []
    if overrides.date is not None and overrides.date != known.acquired:
        out.append(f"--date {overrides.date.isoformat()} (catalogued {known.acquired.isoformat()})")
    if overrides.sensor is not None and overrides.sensor != known.sensor:
        out.append(f"--sensor {overrides.sensor!r} (catalogued {known.sensor!r})")
    if overrides.gsd is not None and abs(overrides.gsd - known.gsd_m) > 1e-9:
        out.append(f"--gsd {overrides.gsd:g} (catalogued {known.gsd_m:g})")
    if overrides.credit is not None and overrides.credit != known.credit:
        out.append(f"--credit {overrides.credit!r} (catalogued {known.credit!r})")
    return out


def _stored_source(path: Path, ws: FacilityWorkspace) -> str:
    """The original's path as recorded: relative to the facility directory when inside it
    (so a moved or copied workspace still finds it), else absolute."""
    try:
        return ws.relative(path)
    except ValueError:
        return str(path.resolve())


def ingest_file(
    path: Path,
    facility: Facility,
    grid: FacilityGrid,
    ws: FacilityWorkspace,
    *,
    overrides: Overrides | None = None,
    provider: str = "local",
    min_clear: float = DEFAULT_MIN_CLEAR,
    progress: Callable[[int, int], None] | None = None,
    masking: MaskOptions | None = None,
) -> Capture | None:
    """Ingest one raster; return the new capture, or None if it was already catalogued.

    One file is one capture: a file whose SHA-256 is already catalogued is not
    ingested again (whatever ``--date`` or ``--sensor`` says), and overrides that
    contradict its catalogued capture are refused.

    ``masking`` chooses an analyst's mask or the cloud model's threshold
    (:class:`imagery.masks.choose.MaskOptions`); the capture records how it was masked.

    Raises:
        IngestError: unreadable file, corrupt data (naming the tile), missing metadata
            (naming the override flag), too few bands, no overlap with the facility grid,
            overrides that conflict with the file's catalogued capture, or an analyst's
            mask that cannot be used.

    Example:
        >>> # cap = ingest_file(Path("delivery/scene.tif"), facility, grid, ws)
    """
    cap, _ = _ingest_one(
        path, facility, grid, ws, overrides=overrides, provider=provider,
        min_clear=min_clear, progress=progress, masking=masking,
    )
    return cap


def _ingest_one(
    path: Path,
    facility: Facility,
    grid: FacilityGrid,
    ws: FacilityWorkspace,
    *,
    overrides: Overrides | None,
    provider: str,
    min_clear: float,
    progress: Callable[[int, int], None] | None,
    masking: MaskOptions | None = None,
) -> tuple[Capture | None, str]:
    """The new capture and "", or None and why the file was skipped."""
    path = Path(path)
    overrides = overrides or Overrides()
    try:
        source_sha = sha256_file(path)
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read: {exc}") from exc
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        known = cat.captures_of_source(source_sha)
    if known:
        conflicts = _conflicts(known[0], overrides) + mask_conflicts(known[0], masking)
        if conflicts:
            raise IngestError(
                f"{path}: this file (sha256 {source_sha}) is already capture "
                f"{known[0].capture_id}; {'; '.join(conflicts)} contradict(s) it. One file is "
                "one capture: drop the override, or correct the catalogued capture instead"
            )
        log.info("%s: already catalogued as %s", path, known[0].capture_id)
        return None, f"already catalogued as {known[0].capture_id} (same sha256)"
    try:
        with rasterio.open(path) as src:
            # raises IngestError naming each missing field and its override flag
            meta = read_vendor_metadata(path, overrides=overrides, src=src)
            assert meta.acquired is not None and meta.sensor is not None
            capture_id = f"{meta.acquired:%Y%m%dT%H%M%S}-{safe_id(meta.sensor)}-{source_sha[:8]}"
            with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                if cat.get_capture(capture_id) is not None:
                    log.info("%s: already catalogued as %s", path, capture_id)
                    return None, f"already catalogued as {capture_id}"
            indexes = _band_indexes(src, path)
            try:
                log.info("%s", check_blocks(src, path, indexes))
            except ImageryError as exc:
                raise IngestError(str(exc)) from exc
            return _ingest_open(
                src,
                path,
                source_sha,
                capture_id,
                meta,
                facility,
                grid,
                ws,
                provider=provider,
                min_clear=min_clear,
                progress=progress,
                masking=masking,
            ), ""
    except RasterioError as exc:
        raise IngestError(f"{path}: cannot be read as a raster: {error_causes(exc)}") from exc


def _ingest_open(
    src: DatasetReader,
    path: Path,
    source_sha: str,
    capture_id: str,
    meta: VendorMetadata,
    facility: Facility,
    grid: FacilityGrid,
    ws: FacilityWorkspace,
    *,
    provider: str,
    min_clear: float,
    progress: Callable[[int, int], None] | None,
    masking: MaskOptions | None = None,
) -> Capture:
    assert meta.acquired is not None and meta.sensor is not None and meta.gsd_m is not None
    indexes = _band_indexes(src, path)
    scale, offset, radiometry = _scale_offset(src, indexes, path)
    f = max(1, int(round(max(MASK_RESOLUTION_M, grid.resolution) / grid.resolution)))
    if DEFAULT_BLOCK % f:
        f = 1
    coarse = np.full((4, math.ceil(grid.height / f), math.ceil(grid.width / f)), np.nan, np.float32)
    valid = np.zeros(grid.shape, dtype=bool)
    raster_path = ws.captures_dir / f"{capture_id}.tif"
    mask_path = ws.masks_dir / f"{capture_id}.tif"
    written: list[Path] = []
    try:
        with grid_raster_writer(
            raster_path,
            grid,
            count=4,
            dtype="float32",
            nodata=float("nan"),
            band_names=BANDS,
            tags={
                "CAPTURE_ID": capture_id,
                "RADIOMETRY": radiometry,
                "SIMULATED": str(meta.simulated).lower(),
            },
        ) as sink:
            for window, block in warp_blocks(
                src, grid, bands=indexes, scale=scale, offset=offset, progress=progress
            ):
                sink.write(window, block)
                r, c = int(window.row_off), int(window.col_off)
                valid[r : r + block.shape[1], c : c + block.shape[2]] = np.all(
                    np.isfinite(block), axis=0
                )
                cm = coarse_mean(block, f)
                coarse[:, r // f : r // f + cm.shape[1], c // f : c // f + cm.shape[2]] = cm
        written.append(raster_path)
        if not valid.any():
            raise IngestError(f"{path}: has no valid pixels on the facility grid of {facility.id}")
        def rules() -> np.ndarray:
            coarse_clear = clear_mask(coarse, grid.resolution * f, MaskParams())
            full = np.repeat(np.repeat(coarse_clear, f, axis=0), f, axis=1)
            return full[: grid.height, : grid.width]

        sky = clear_sky(
            src, sensor=meta.sensor, simulated=meta.simulated, grid=grid, valid=valid,
            level_texts=[meta.sensor, meta.product_id or "", path.name],
            indexes=indexes, rules=rules, options=masking, radiometry=radiometry,
            scale_offset=lambda idx: _scale_offset(src, idx, path, warn=False)[:2],
        )
        clear, method, detail, threshold = sky.clear & valid, sky.method, sky.detail, sky.threshold
        del sky, valid  # at 8000² px a full-grid mask is 64 MB: keep only ``clear``
        with grid_raster_writer(
            mask_path,
            grid,
            count=1,
            dtype="uint8",
            nodata=None,
            band_names=("clear",),
            tags={"CAPTURE_ID": capture_id, "VALUES": "1 = clear, 0 = not clear or no data"},
        ) as msink:
            msink.write(Window(0, 0, grid.width, grid.height), clear[np.newaxis].view(np.uint8))
        written.append(mask_path)
        quality = assess_quality(clear, region_boxes(facility, grid), min_clear=min_clear)
        capture = Capture(
            capture_id=capture_id,
            facility_id=facility.id,
            acquired=meta.acquired,
            sensor=meta.sensor,
            gsd_m=meta.gsd_m,
            footprint=_footprint(np.isfinite(coarse[0]), grid, f),
            provider=provider,
            source_path=_stored_source(path, ws),
            source_sha256=source_sha,
            credit=meta.credit or "",
            off_nadir_deg=meta.off_nadir_deg,
            sun_elevation_deg=meta.sun_elevation_deg,
            raster_path=ws.relative(raster_path),
            raster_sha256=sink.sha256,
            mask_path=ws.relative(mask_path),
            mask_sha256=msink.sha256,
            clear_fraction=quality.clear_fraction,
            zone_clear=quality.zone_clear,
            usable=quality.usable,
            reason=quality.reason,
            fetched_at=datetime.now(UTC),
            campwatch_version=campwatch_version,
            gdal_version=rasterio.__gdal_version__,
            simulated=meta.simulated,
            vendor=meta.vendor,
            product_id=meta.product_id,
            sidecar_path=str(meta.sidecar_path) if meta.sidecar_path else None,
            sidecar_sha256=meta.sidecar_sha256,
            radiometry=radiometry,
            mask_method=method,
            mask_detail=detail,
            cloud_threshold=threshold,
        )
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            if not cat.add_capture(capture):
                raise IngestError(f"{path}: capture {capture_id} was catalogued concurrently")
        return capture
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files to ingest: each file, and the ``*.tif``/``*.tiff`` inside each folder (sorted).

    Example:
        >>> expand_paths([])
        []
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in (".tif", ".tiff")))
        else:
            files.append(p)
    return files


def ingest_paths(
    paths: Sequence[Path],
    facility: Facility,
    grid: FacilityGrid,
    ws: FacilityWorkspace,
    *,
    overrides: Overrides | None = None,
    provider: str = "local",
    min_clear: float = DEFAULT_MIN_CLEAR,
    fail_fast: bool = False,
    progress: Callable[[int, int], None] | None = None,
    date_from_name: str | None = None,
    masking: MaskOptions | None = None,
) -> IngestReport:
    """Ingest files and folders (``*.tif``/``*.tiff`` inside folders), one capture each.

    A file that fails is reported with its reason and the others carry on
    (unless ``fail_fast``). Each file is dated from its own metadata, or from its name with
    ``date_from_name`` (see :func:`imagery.vendor.metadata.overrides_for`); one override
    date for several files is refused.

    Raises:
        IngestError: ``overrides.date`` or an analyst's mask given for more than one file,
            or an analyst's mask that cannot be read.

    Example:
        >>> # report = ingest_paths([Path("deliveries/")], facility, grid, ws)
        >>> # len(report.added)
    """
    files = expand_paths(paths)
    if overrides is not None and overrides.date is not None and len(files) > 1:
        raise IngestError(
            f"--date {overrides.date.isoformat()} given for {len(files)} files "
            f"({files[0]}, {files[1]}, ...): one date cannot be every file's; date each file "
            "from its own metadata or name (--date-from-name PATTERN), or ingest one at a time"
        )
    if masking is not None and masking.analyst_mask is not None:
        if len(files) > 1:
            raise IngestError(
                f"--mask {masking.analyst_mask} given for {len(files)} files ({files[0]}, "
                f"{files[1]}, ...): an analyst's mask belongs to one capture; ingest one at a time"
            )
        check_analyst_mask(Path(masking.analyst_mask))
    added: list[Capture] = []
    skipped: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for i, f in enumerate(files):
        try:
            cap, why = _ingest_one(
                f, facility, grid, ws, overrides=overrides_for(f, overrides, date_from_name),
                provider=provider, min_clear=min_clear, progress=None, masking=masking,
            )
        except ImageryError as exc:
            if fail_fast:
                raise
            log.info("%s", exc)  # reported once, in the IngestReport (the CLI prints it)
            failed.append((str(f), str(exc)))
        else:
            if cap is None:
                skipped.append((str(f), why))
            else:
                added.append(cap)
        if progress is not None:
            progress(i + 1, len(files))
    return IngestReport(tuple(added), tuple(skipped), tuple(failed))
