"""The one exception root of the ``pipeline`` package."""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error raised by :mod:`pipeline`."""


class ChangeInputError(PipelineError, ValueError):
    """Inputs to change detection that cannot be compared (names files, shapes, values)."""


class OutputExistsError(PipelineError, FileExistsError):
    """An output that exists and would be clobbered without ``--overwrite``."""


class LockHeldError(PipelineError):
    """Another live run holds the workspace lock (the message names it)."""


class WatchConfigError(PipelineError, ValueError):
    """A watch config that cannot be used (names the file, key and value)."""


class AlertLedgerError(PipelineError):
    """An alert ledger that cannot be read or written (names the file and line)."""


class ReviewError(PipelineError):
    """A review that cannot be recorded (unknown change, bad decision)."""


class FigureError(PipelineError, ValueError):
    """Figure or export inputs that cannot be drawn (names the field and the value)."""


class PdfError(PipelineError):
    """The PDF cannot be written (WeasyPrint or its system libraries missing, bad HTML)."""


class ViewerError(PipelineError, ValueError):
    """Inputs the viewer cannot render (names the file, field and value)."""


class NoClearPixelsError(ChangeInputError):
    """No pixel of the grid is clear in both captures of the pair."""


class SelectionError(PipelineError):
    """Nothing to watch, or a type no facility has: a usage error of ``campwatch watch``."""
