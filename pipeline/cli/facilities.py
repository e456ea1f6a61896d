"""``campwatch facilities``: list, show and validate facility definitions.

The lead registers :data:`facilities` on the ``campwatch`` main group::

    from pipeline.cli.facilities import facilities
    main.add_command(facilities)

:func:`facilities_option` is the shared ``--facilities DIR`` option (repeatable, also read from
``$CAMPWATCH_FACILITIES``) for any command that looks a facility up by id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from facilities.errors import FacilityError
from pipeline.cli.names import FACILITIES_ENV_VAR as ENV_VAR

if TYPE_CHECKING:
    from facilities.model import Facility

SHOW_GRID_RESOLUTION_M = 10.0
"""The grid resolution ``facilities show`` describes (Sentinel-2's finest bands)."""

F = TypeVar("F", bound=Callable[..., Any])


def facilities_option(func: F) -> F:
    """Add the repeatable ``--facilities DIR`` option (param ``facility_dirs``) to a command.

    Example:
        >>> @click.command()
        ... @facilities_option
        ... def cmd(facility_dirs: tuple[Path, ...]) -> None: ...
    """
    return click.option(
        "--facilities",
        "facility_dirs",
        multiple=True,
        type=click.Path(file_okay=False, path_type=Path),
        envvar=ENV_VAR,
        show_envvar=True,
        help="Extra directory of facility definitions (repeatable); searched before the "
        "bundled definitions. A duplicate facility id is an error.",
    )(func)


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
        "reported_point": {"lat": rp.lat, "lon": rp.lon, "citation": rp.citation},
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


def _fail(exc: FacilityError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def facilities() -> None:
    """List, show and validate facility definitions."""


@facilities.command("list")
@facilities_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_cmd(facility_dirs: tuple[Path, ...], as_json: bool) -> None:
    """List every facility: id, type, English name, file."""
    from facilities.load import load_registry

    try:
        registry = load_registry(facility_dirs)
    except FacilityError as exc:
        raise _fail(exc) from exc
    rows = [
        {
            "id": f.id,
            "type": f.facility_type,
            "name": f.names.english,
            "file": str(f.source_path),
        }
        for f in sorted(registry.values(), key=lambda f: f.id)
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    width = max([len(r["id"]) for r in rows] + [2])
    for r in rows:
        click.echo(f"{r['id']:<{width}}  {r['type']:<18}  {r['name']}  ({r['file']})")


@facilities.command("show")
@click.argument("facility_id")
@facilities_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
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
    lines.append(f"  file:                 {s['file']}")
    click.echo("\n".join(lines))


@facilities.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@facilities_option
def validate_cmd(paths: tuple[Path, ...], facility_dirs: tuple[Path, ...]) -> None:
    """Validate definition files or directories (default: every searched directory).

    Prints every problem with its file, feature, field and value; exits 1 if there is any.
    """
    from facilities.load import validate_paths, validate_registry

    try:
        if paths:
            files, problems = validate_paths(paths, facility_dirs)
        else:
            files, problems = validate_registry(facility_dirs)
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
