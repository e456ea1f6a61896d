"""The one exception root of the ``pipeline`` package."""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error raised by :mod:`pipeline`."""


class ChangeInputError(PipelineError, ValueError):
    """Inputs to change detection that cannot be compared (names files, shapes, values)."""


class OutputExistsError(PipelineError, FileExistsError):
    """An output that exists and would be clobbered without ``--overwrite``."""


class SelectionError(PipelineError):
    """Nothing to watch, or a type no facility has: a usage error of ``campwatch watch``."""
