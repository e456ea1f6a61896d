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


class SimulationError(ImageryError, ValueError):
    """Simulation parameters or a truth file that cannot be used; names the field and value."""


class RadiometryError(ImageryError, ValueError):
    """Item metadata that does not determine how to get reflectance (names item and field)."""


class ItemError(ImageryError, ValueError):
    """A STAC item that lacks a field campwatch needs (names the item and field)."""


class BandMapError(ImageryError, KeyError):
    """A collection or item whose band assets cannot be identified."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class AssetReadError(ImageryError):
    """An asset that cannot be read (names the item, asset and unsigned href)."""


class TileError(ImageryError, ValueError):
    """A tile index that cannot be built as asked (names the parameter and its value)."""


class CloudModelError(ImageryError, ValueError):
    """The cloud model cannot run on the bands given (names the bands, level or model file)."""
