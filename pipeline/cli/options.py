"""What every ``campwatch`` command shares: options, the GDAL front door, progress, errors.

Each shared option is declared here once and applied as a decorator; command modules import
from here, never from :mod:`pipeline.cli.main` (which imports them), so the CLI has no import
cycle. Only light modules are imported at module level: ``campwatch --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from facilities.errors import FacilityError
from imagery.errors import ImageryError
from pipeline.cli.names import FACILITIES_ENV_VAR as ENV_VAR
from pipeline.errors import PipelineError

F = TypeVar("F", bound=Callable[..., Any])

GDAL_CACHEMAX_MB = 256
"""GDAL block cache of every command, MB (``rasterio.Env`` takes the value in bytes)."""


def gdal_options() -> dict[str, Any]:
    """GDAL configuration of every command: the one front door for GDAL options.

    The CLI group enters ``rasterio.Env(**gdal_options())`` once; ``watch`` hands the same
    options to Dask workers, which are edges of their own. A function, not a constant, so that
    ``campwatch --help`` does not import rasterio.

    Example:
        >>> gdal_options()["GDAL_CACHEMAX"] == 256 * 1024 * 1024
        True
    """
    from imagery.stac.read import gdal_env_options

    return {**gdal_env_options(), "GDAL_CACHEMAX": GDAL_CACHEMAX_MB << 20}

WORKSPACE_ENV_VAR = "CAMPWATCH_WORKSPACE"
"""Environment variable that names the workspace when ``--workspace`` is not given."""


def workspace_option(func: F | None = None, *, default: Path | None = None) -> Any:
    """``--workspace DIR`` (param ``workspace``): required unless a ``default`` is given.

    Example:
        >>> @click.command()
        ... @workspace_option
        ... def cmd(workspace: Path) -> None: ...
    """
    option = click.option(
        "--workspace",
        "workspace",
        required=default is None,
        default=default,
        show_default=default is not None,
        type=click.Path(file_okay=False, path_type=Path),
        envvar=WORKSPACE_ENV_VAR,
        show_envvar=True,
        help="Workspace directory (one sub-directory per facility).",
    )
    return option(func) if func is not None else option


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


def json_option(func: F) -> F:
    """``--json`` (param ``as_json``): print machine-readable JSON instead of text.

    Example:
        >>> @click.command()
        ... @json_option
        ... def cmd(as_json: bool) -> None: ...
    """
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON instead of text."
    )(func)


def overwrite_option(func: F) -> F:
    """``--overwrite``: replace existing outputs (they are never clobbered without it).

    Example:
        >>> @click.command()
        ... @overwrite_option
        ... def cmd(overwrite: bool) -> None: ...
    """
    return click.option("--overwrite", is_flag=True, help="Replace existing outputs.")(func)


@contextmanager
def gdal_env() -> Iterator[None]:
    """Enter ``rasterio.Env(**gdal_options())`` unless an environment is already active.

    The ``campwatch`` group enters it once for every command; a command invoked on its own
    (embedded, or in tests) enters it here, with the same options.

    Example:
        >>> with gdal_env():
        ...     pass
    """
    import rasterio
    from rasterio.env import hasenv

    if hasenv():
        yield
        return
    with rasterio.Env(**gdal_options()):
        yield


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the packages' errors into clean CLI errors (exit 1, one line, no traceback).

    Example:
        >>> # with user_errors():
        >>> #     ingest(...)
    """
    from rasterio.errors import RasterioError

    try:
        yield
    except (FacilityError, ImageryError, PipelineError) as exc:
        raise click.ClickException(str(exc)) from exc
    except (RasterioError, OSError) as exc:  # e.g. a stored capture deleted by hand
        text = " ".join(str(exc).split())
        raise click.ClickException(f"{text}; run 'campwatch verify' on the workspace") from exc


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A (done, total) progress callable that draws a bar on stderr when it is a terminal.

    Example:
        >>> update = progress_bar("tiles")
        >>> update(1, 2)  # draws nothing unless stderr is a terminal
    """
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        bar = state.get("bar")
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
            state["bar"] = bar
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)
            state.pop("bar")

    return update
