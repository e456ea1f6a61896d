"""``campwatch export`` and ``campwatch report``: annotated exports and the baseline report.

Thin commands: parse options, call one library function, print the files.
Outputs are never replaced without ``--overwrite``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli.options import (
    facilities_option,
    json_option,
    overwrite_option,
    user_errors,
    workspace_option,
)
from pipeline.lock import workspace_lock


@click.command("export")
@click.argument("facility_id")
@click.option("--capture", "capture_id", required=True, help="Capture id to export.")
@click.option("--before", "before_id", default=None,
              help="Earlier capture id: before and after side by side.")
@click.option("--format", "formats", default="png,geotiff,geojson,kmz", show_default=True,
              help="Comma-separated formats: png, geotiff, geojson, kmz.")
@click.option("--dpi", type=click.IntRange(min=30, max=1200), default=300, show_default=True,
              help="PNG resolution.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output directory (default: WORKSPACE/FACILITY/report/exports).")
@workspace_option
@overwrite_option
@facilities_option
@json_option
def export(
    facility_id: str, capture_id: str, before_id: str | None, formats: str, dpi: int,
    out_dir: Path | None, workspace: Path, overwrite: bool, facility_dirs: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Export an annotated capture of FACILITY_ID as PNG, GeoTIFF, GeoJSON and/or KMZ."""
    from facilities.load import load_facility_by_id
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.report.capture_export import export_capture, parse_formats

    with user_errors():
        fmts = parse_formats(formats)
        facility = load_facility_by_id(facility_id, facility_dirs)
        ws = FacilityWorkspace(workspace, facility.id)
        grid = workspace_grid(ws, facility, None)
        with workspace_lock(workspace, "campwatch export"):  # seals what it writes
            written = export_capture(facility, ws, grid, capture_id, before_id=before_id,
                                     formats=fmts, dpi=dpi, out_dir=out_dir,
                                     overwrite=overwrite)
    if as_json:
        click.echo(json.dumps({"facility_id": facility.id, "files": [str(p) for p in written]}))
    else:
        for p in written:
            click.echo(str(p))


@click.command("report")
@click.argument("facility_id")
@workspace_option
@click.option("--pdf", is_flag=True, help="Also write report.pdf (needs WeasyPrint).")
@overwrite_option
@facilities_option
@json_option
def report(
    facility_id: str, workspace: Path, pdf: bool, overwrite: bool,
    facility_dirs: tuple[Path, ...], as_json: bool,
) -> None:
    """Write the baseline report of FACILITY_ID from its catalogue (HTML, optionally PDF).

    Only events an analyst accepted (campwatch review) are stated as findings.
    """
    from facilities.load import load_facility_by_id
    from imagery.simulate.archive import read_truth
    from imagery.simulate.records import TRUTH_RELATIVE
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.history.events import read_events
    from pipeline.history.validation import validate_events
    from pipeline.report.html import report_facility

    with user_errors():
        facility = load_facility_by_id(facility_id, facility_dirs)
        ws = FacilityWorkspace(workspace, facility.id)
        grid = workspace_grid(ws, facility, None)
        if not ws.catalogue_path.exists():
            raise click.ClickException(f"{ws.catalogue_path}: no catalogue; ingest or run first")
        validation = None
        truth_path = ws.dir / TRUTH_RELATIVE
        if truth_path.exists():
            from imagery.catalogue import open_catalogue

            with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                events = read_events(cat)
            validation = validate_events(read_truth(truth_path).events, events)
        with workspace_lock(workspace, "campwatch report"):  # seals what it writes
            out = report_facility(facility, ws, grid, validation=validation, pdf=pdf,
                                  overwrite=overwrite)
    files = {"report_html": out.html, "report_pdf": out.pdf, "events_geojson": out.events_geojson,
             "timeline_csv": out.timeline_csv, "timeline_parquet": out.timeline_parquet,
             "timeline_png": out.timeline_png, "timeline_svg": out.timeline_svg}
    shown = {k: str(v) for k, v in files.items() if v is not None}
    if as_json:
        click.echo(json.dumps({"facility_id": facility.id, "outputs": shown}, indent=1))
    else:
        for k, v in shown.items():
            click.echo(f"{k}: {v}")
