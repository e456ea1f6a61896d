"""``campwatch verify``: re-hash every catalogued file and fail on any mismatch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from imagery.errors import ImageryError
from pipeline.cli.options import json_option, workspace_option

if TYPE_CHECKING:
    from imagery.verify import VerifyReport


def _as_json(root: Path, report: VerifyReport) -> str:
    return json.dumps(
        {
            "workspace": str(root),
            "catalogues": report.catalogues,
            "checked": report.checked,
            "ok": report.ok,
            "unchecked": list(report.unchecked),
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
@workspace_option(default=Path("workspace"))
@json_option
def verify(workspace: Path, as_json: bool) -> None:
    """Check every catalogue, stored file, derived file and vendor original, read-only.

    Catalogues are checked row by row and table by table (plus SQLite's integrity
    check) and never written. Exits 1 when anything is missing, unreadable, unrecorded
    or differs from what was recorded, or when the workspace holds no catalogue at all.
    Originals outside the workspace that are absent are listed as UNCHECKED.
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
        for line in report.unchecked:
            click.echo(f"UNCHECKED {line}")
        click.echo(
            f"{workspace}: {report.catalogues} catalogue(s), {report.checked} file(s) checked, "
            f"{len(report.problems)} problem(s)"
        )
    if report.catalogues == 0:
        click.echo(f"{workspace}: no facility catalogue (*/catalogue.gpkg) found", err=True)
    if not report.ok:
        sys.exit(1)
