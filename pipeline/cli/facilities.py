"""``campwatch facilities``: list, show, validate and map facility definitions.

The lead registers :data:`facilities` on the ``campwatch`` main group::

    from pipeline.cli.facilities import facilities
    main.add_command(facilities)

The shared ``--facilities DIR`` option lives in :mod:`pipeline.cli.options`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from facilities.errors import FacilityError
from pipeline.cli.options import facilities_option, json_option

if TYPE_CHECKING:
    from facilities.model import Facility, Source

# facilities.load, .export and .grid (shapely, pyproj, numpy) are imported in the commands
# that use them, so that ``campwatch --help`` stays fast (tests/pipeline/test_cli_startup.py)

SHOW_GRID_RESOLUTION_M = 10.0
"""The grid resolution ``facilities show`` describes (Sentinel-2's finest bands)."""

F = TypeVar("F", bound=Callable[..., Any])


def facility_summary(
    facility: Facility, resolution: float = SHOW_GRID_RESOLUTION_M
) -> dict[str, Any]:
    """Everything ``facilities show`` prints, as JSON-ready values; areas in m² in the grid CRS.

    Example:
        >>> from facilities.load import load_facility_by_id
        >>> s = facility_summary(load_facility_by_id("kangdong-kyohwaso-4"))
        >>> s["grid"]["crs"], s["zones"][0]["simulated"]
        ('EPSG:32652', True)
    """
    from facilities.grid import facility_grid, to_grid_crs

    grid = facility_grid(facility, resolution)
    n = facility.names
    rp = facility.reported_point
    return {
        "id": facility.id,
        "names": {
            "english": n.english,
            "korean": n.korean,
            "mccune_reischauer": n.mccune_reischauer,
            "revised_romanization": n.revised_romanization,
            "aliases": list(n.aliases),
        },
        "type": facility.facility_type,
        "country": facility.country,
        "reported_point": {
            "lat": rp.lat,
            "lon": rp.lon,
            "citation": rp.citation,
            "source": rp.source_id,
        },
        "status": _status_json(facility),
        "extent": (
            None
            if facility.extent is None
            else {
                "source": facility.extent.source_id,
                "quote": facility.extent.quote,
                "area_m2": facility.extent.area_m2,
                "length_m": facility.extent.length_m,
                "width_m": facility.extent.width_m,
            }
        ),
        "sources": [_source_summary(s, rp.lat, rp.lon) for s in facility.sources],
        "names_source": facility.names_source,
        "aoi": {
            "method": facility.aoi_method,
            "area_m2": round(to_grid_crs(facility.aoi, grid.crs).area, 1),
        },
        "zones": [
            {
                "id": z.id,
                "type": z.zone_type,
                "name": z.name,
                "area_m2": round(to_grid_crs(z.geometry, grid.crs).area, 1),
                "simulated": z.simulated,
                "source": z.source,
            }
            for z in facility.zones
        ],
        "grid": {
            "crs": grid.crs,
            "resolution_m": grid.resolution,
            "west": grid.west,
            "north": grid.north,
            "width": grid.width,
            "height": grid.height,
            "bounds": list(grid.bounds),
        },
        "simulated_zones": sum(z.simulated for z in facility.zones),
        "file": str(facility.source_path) if facility.source_path else None,
    }


def _status_json(facility: Facility) -> dict[str, Any] | None:
    st = facility.status
    if st is None:
        return None
    return {
        "value": st.status,
        "as_of": st.as_of,
        "source": st.source_id,
        "quote": st.quote,
        "note": st.note,
    }


def _source_summary(s: Source, lat: float, lon: float) -> dict[str, Any]:
    offset = None
    if s.lat is not None and s.lon is not None:
        from pyproj import Geod

        offset = round(abs(Geod(ellps="WGS84").inv(lon, lat, s.lon, s.lat)[2]), 1)
    return {
        "id": s.id,
        "title": s.title,
        "authors": list(s.authors),
        "publisher": s.publisher,
        "date": s.date,
        "url": s.url,
        "read_at": s.read_at,
        "quote": s.quote,
        "lat": s.lat,
        "lon": s.lon,
        "offset_m": offset,
        "note": s.note,
    }


def _fail(exc: FacilityError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def facilities() -> None:
    """List, show, validate and map facility definitions."""


@facilities.command("list")
@facilities_option
@json_option
@click.option(
    "--geojson",
    "as_geojson",
    is_flag=True,
    help="Print the registry as one GeoJSON FeatureCollection (AOIs and source points).",
)
def list_cmd(facility_dirs: tuple[Path, ...], as_json: bool, as_geojson: bool) -> None:
    """List every facility as a table: id, type, status (as of), source, name."""
    if as_json and as_geojson:
        raise click.UsageError("use either --json or --geojson, not both")
    from facilities.export import registry_geojson, registry_rows
    from facilities.load import load_registry

    try:
        registry = load_registry(facility_dirs)
    except FacilityError as exc:
        raise _fail(exc) from exc
    if as_geojson:
        click.echo(json.dumps(registry_geojson(registry), ensure_ascii=False, indent=1))
        return
    rows = registry_rows(registry)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = [["ID", "TYPE", "STATUS", "SOURCE", "NAME"]]
    for r in rows:
        status = r["status"] + (f" ({r['status_as_of']})" if r["status_as_of"] else "")
        table.append([r["id"], r["type"], status, r["source"], r["name"]])
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [c.ljust(w) for c, w in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, row[4]]))


def _status_lines(st: dict[str, Any] | None) -> list[str]:
    if st is None:
        return ["  status:               - (no status in this definition)"]
    out = [
        f"  status:               {st['value']}" + (f" as of {st['as_of']}" if st["as_of"] else "")
    ]
    if st["quote"]:
        out.append(f"    \u201c{st['quote']}\u201d ({st['source']})")
    if st["note"]:
        out.append(f"    note: {st['note']}")
    return out


def _source_lines(s: dict[str, Any]) -> list[str]:
    out = []
    if s["extent"]:
        out.append(
            f"  published size:       \u201c{s['extent']['quote']}\u201d ({s['extent']['source']})"
        )
    out.append(f"  sources ({len(s['sources'])}):")
    reported = s["reported_point"]["source"]
    for src in s["sources"]:
        mark = " [reported point]" if src["id"] == reported else ""
        by = ", ".join(src["authors"]) or src["publisher"]
        out.append(f"    {src['id']}{mark}: {by} ({src['date']}). {src['title']}. {src['url']}")
        if src["lat"] is not None:
            where = f"      point: lat {src['lat']}, lon {src['lon']}"
            if src["offset_m"]:
                where += f"  ({src['offset_m']:,.0f} m from the reported point: sources disagree)"
            out.append(where)
        out.append(f"      \u201c{src['quote']}\u201d")
        if src["read_at"]:
            out.append(f"      read at: {src['read_at']}")
        if src["note"]:
            out.append(f"      note: {src['note']}")
    return out


@facilities.command("show")
@click.argument("facility_id")
@facilities_option
@json_option
def show_cmd(facility_id: str, facility_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Show one facility: names, type, reported point, AOI, zones and its 10 m grid."""
    from facilities.load import load_facility_by_id

    try:
        s = facility_summary(load_facility_by_id(facility_id, facility_dirs))
    except FacilityError as exc:
        raise _fail(exc) from exc
    if as_json:
        click.echo(json.dumps(s, ensure_ascii=False, indent=2))
        return
    names, rp, g = s["names"], s["reported_point"], s["grid"]
    lines = [f"{s['id']}: {names['english']}"]
    if s["simulated_zones"]:
        lines.append(
            f"  WARNING: {s['simulated_zones']} of {len(s['zones'])} zones are SIMULATED: drawn "
            "for the simulated demo scene, NOT digitised from imagery, NOT evidence."
        )
    lines += [
        f"  Korean:               {names['korean'] or '-'}",
        f"  McCune–Reischauer:    {names['mccune_reischauer'] or '-'}",
        f"  Revised Romanization: {names['revised_romanization'] or '-'}",
        f"  aliases:              {'; '.join(names['aliases']) or '-'}",
        f"  type:                 {s['type']}",
        f"  country:              {s['country']}",
        f"  reported point:       lat {rp['lat']}, lon {rp['lon']}",
        f"  citation:             {rp['citation']}",
        *_status_lines(s["status"]),
        f"  AOI area:             {s['aoi']['area_m2']:,.0f} m² (in {g['crs']})",
        f"  AOI method:           {s['aoi']['method']}",
        f"  grid at {g['resolution_m']:g} m:         {g['crs']}, origin (west {g['west']:.0f}, "
        f"north {g['north']:.0f}), {g['width']} x {g['height']} pixels",
        f"  zones ({len(s['zones'])}):",
    ]
    for z in s["zones"]:
        flag = "  SIMULATED" if z["simulated"] else ""
        lines.append(
            f"    {z['id']:<14} {z['type']:<15} {z['area_m2']:>12,.0f} m²  {z['name']}{flag}"
        )
        lines.append(f"      source: {z['source']}")
    lines += _source_lines(s)
    lines.append(f"  file:                 {s['file']}")
    click.echo("\n".join(lines))


@facilities.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@facilities_option
@click.option(
    "--strict",
    is_flag=True,
    help="Also require sources, a reported source and a status (as the bundled registry has).",
)
def validate_cmd(paths: tuple[Path, ...], facility_dirs: tuple[Path, ...], strict: bool) -> None:
    """Validate definition files or directories (default: every searched directory).

    Prints every problem with its file, feature, field and value; exits 1 if there is any.
    """
    from facilities.load import validate_paths, validate_registry

    try:
        if paths:
            files, problems = validate_paths(paths, facility_dirs, strict=strict)
        else:
            files, problems = validate_registry(facility_dirs, strict=strict)
    except FacilityError as exc:
        raise _fail(exc) from exc
    if not files:
        raise click.ClickException(
            f"no *.geojson definition files in {', '.join(str(p) for p in paths)}"
        )
    for problem in problems:
        click.echo(str(problem))
    if problems:
        bad = len({p.path for p in problems})
        click.echo(f"{len(problems)} problem(s) in {bad} of {len(files)} definition(s)", err=True)
        click.get_current_context().exit(1)
    click.echo(f"{len(files)} definitions OK")


@facilities.command("map")
@facilities_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write (one self-contained page).",
)
def map_cmd(facility_dirs: tuple[Path, ...], output: Path) -> None:
    """Write an offline map of the registry: every AOI, every source's point, and a popup with
    the facility's type, status and source (Leaflet inlined; no network, no base map)."""
    from facilities.export import registry_map_html
    from facilities.load import load_registry

    try:
        registry = load_registry(facility_dirs)
    except FacilityError as exc:
        raise _fail(exc) from exc
    from pipeline.viewer.build import STATIC_DIR

    page = registry_map_html(registry, STATIC_DIR / "leaflet")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    click.echo(f"wrote {output} ({len(registry)} facilities)")
