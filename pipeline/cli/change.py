"""``campwatch change BEFORE AFTER -o MASK.tif``: change between any two rasters.

Thin: parses options, opens the files, calls :func:`pipeline.change.rasters.write_change` and
reports. Errors of the inputs become a clean message and exit status 1, never a traceback.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click

from pipeline.cli.names import CHANGE_METHODS as METHODS
from pipeline.cli.options import overwrite_option
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)


def _bands(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    roles = tuple(r.strip().lower() for r in value.split(",") if r.strip())
    if not roles:
        raise click.BadParameter("give band roles in order, e.g. blue,green,red,nir")
    return roles


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        click.echo(f"\rblocks {done}/{total}", nl=done == total, err=True)


def _one_line(exc: BaseException) -> str:
    """An OS or GDAL error as one line, with its inner causes (GDAL chains them)."""
    parts = [" ".join(str(exc).split())]
    inner = exc.__cause__ or exc.__context__
    while inner is not None and len(parts) < 4:
        text = " ".join(str(inner).split())
        if text and text not in parts:
            parts.append(text)
        inner = inner.__cause__ or inner.__context__
    return ": ".join(parts)


@click.command("change")
@click.argument("before", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("after", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", "output", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Change mask GeoTIFF: 1 change, 0 no change, 255 no data.")
@click.option("--method", type=click.Choice(METHODS), default="default", show_default=True,
              help="Detector.")
@click.option("--min-area", "min_area", type=float, default=None,
              help="Minimum mapping unit of polygons, m² (pixels when not georeferenced).")
@click.option("--polygons", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write change polygons to this GeoPackage.")
@click.option("--bands", "bands", default=None,
              help="Band roles in order, e.g. blue,green,red,nir (enables --method index "
                   "and vegetation types).")
@click.option("--model", "model", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="ONNX change model for --method learned, which is experimental (default: "
                   "the shipped model, which scores below the default method; see "
                   "pipeline/change/models/README.md for the inputs a model takes).")
@overwrite_option
def change(
    before: Path, after: Path, output: Path, method: str, min_area: float | None,
    polygons: Path | None, bands: str | None, model: Path | None, overwrite: bool,
) -> None:
    """Detect change from BEFORE to AFTER (any rasters GDAL reads, same band count).

    AFTER is warped onto BEFORE's grid when both are georeferenced; otherwise both must
    have the same shape. The mask is written on BEFORE's grid.
    """
    import rasterio
    from pyogrio.errors import DataLayerError, DataSourceError
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    from pipeline.change.rasters import (
        check_output,
        mask_profile,
        open_input,
        pair_objects,
        write_change,
        write_objects,
    )
    from pipeline.change.records import ChangeParams

    if model is not None and method != "learned":
        raise click.BadParameter(f"applies to --method learned only, got --method {method}",
                                 param_hint="--model")
    params = ChangeParams(method=method, bands=_bands(bands), model_path=model)
    if min_area is not None:
        if min_area < 0:
            raise click.BadParameter(f"must be >= 0, got {min_area}", param_hint="--min-area")
        params = ChangeParams(method=method, bands=params.bands, min_area_m2=min_area,
                              model_path=model)
    stage = f"reading BEFORE {before} and AFTER {after}"
    wrote_mask = False
    try:
        check_output(output, overwrite)
        if polygons is not None:
            check_output(polygons, overwrite)
        with warnings.catch_warnings():
            # Non-georeferenced inputs (PNG, JPEG) are handled explicitly.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with open_input(before, "BEFORE") as bds, open_input(after, "AFTER") as ads:
                stage = f"writing the change mask {output}"
                output.parent.mkdir(parents=True, exist_ok=True)
                tmp = output.with_name(output.name + ".partial")
                try:
                    with rasterio.open(tmp, "w", **mask_profile(bds)) as dst:
                        stage = f"comparing BEFORE {before} with AFTER {after}"
                        summary = write_change(bds, ads, dst, params, progress=_progress)
                    stage = f"writing the change mask {output}"
                    tmp.replace(output)
                    wrote_mask = True
                finally:
                    tmp.unlink(missing_ok=True)
                objects = None
                if polygons is not None:
                    stage = f"writing the change polygons {polygons}"
                    with rasterio.open(output) as mask_ds:
                        objects = pair_objects(bds, ads, mask_ds, params)
                    write_objects(objects, polygons, bds.crs if summary.georeferenced else None)
    except (PipelineError, RasterioError, OSError, DataSourceError, DataLayerError) as exc:
        # An output set is written whole or not at all: a mask without its polygons goes.
        if wrote_mask and polygons is not None:
            output.unlink(missing_ok=True)
        if isinstance(exc, PipelineError):
            raise click.ClickException(str(exc)) from exc
        raise click.ClickException(f"{stage}: {_one_line(exc)}") from exc
    cal = summary.calibration
    share = summary.changed_pixels / max(summary.valid_pixels, 1)
    click.echo(
        f"{output}: {summary.changed_pixels} changed pixels ({share:.2%} of "
        f"{summary.valid_pixels} valid), method {method}, normalisation "
        f"{cal.normalisation.method}, co-registration: {cal.registration_note}"
        + (", AFTER warped onto BEFORE's grid" if summary.warped else "")
    )
    if polygons is not None and objects is not None:
        click.echo(f"{polygons}: {len(objects)} change polygons")
