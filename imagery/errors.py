"""The one exception root of the ``imagery`` package."""

from __future__ import annotations


class ImageryError(Exception):
    """Root of every error raised by :mod:`imagery`."""


class CatalogueError(ImageryError):
    """The capture catalogue cannot be opened, read or written."""


class IngestError(ImageryError, ValueError):
    """A source raster or sidecar that cannot be ingested; names the file and field."""


class WarpError(ImageryError):
    """A raster that cannot be put on a facility grid."""


class ProviderError(ImageryError):
    """An imagery provider failed (names the provider, URL and status)."""
