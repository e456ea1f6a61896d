"""``campwatch verify``: re-hash every catalogued file and fail on any mismatch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from imagery.errors import ImageryError

if TYPE_CHECKING:
    from imagery.verify import VerifyReport


def _as_json(root: Path, report: VerifyReport) -> str:
    return json.dumps(
        {
            "workspace": str(root),
            "catalogues": report.catalogues,
            "checked": report.checked,
            "ok": report.ok,
            "problems": [
                {
                    "facility_id": p.facility_id,
                    "capture_id": p.capture_id,
                    "role": p.role,
                    "path": str(p.path),
                    "problem": p.problem,
                    "expected_sha256": p.expected,
                    "actual_sha256": p.actual,
                }
                for p in report.problems
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


@click.command("verify")
@click.option(
    "--workspace",
    "workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("workspace"),
    show_default=True,
    envvar="CAMPWATCH_WORKSPACE",
    help="Workspace directory holding one folder per facility.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def verify(workspace: Path, as_json: bool) -> None:
    """Re-hash every stored raster, mask and vendor original against the catalogues.

    Exits 1 when any file is missing, unreadable or differs from its recorded SHA-256, or
    when the workspace holds no catalogue at all.
    """
    from imagery.verify import verify_workspace

    try:
        report = verify_workspace(workspace)
    except ImageryError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(_as_json(workspace, report))
    else:
        for problem in report.problems:
            click.echo(problem.describe())
        click.echo(
            f"{workspace}: {report.catalogues} catalogue(s), {report.checked} file(s) checked, "
            f"{len(report.problems)} problem(s)"
        )
    if report.catalogues == 0:
        click.echo(f"{workspace}: no facility catalogue (*/catalogue.gpkg) found", err=True)
    if not report.ok:
        sys.exit(1)
