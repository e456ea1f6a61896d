"""Getting pixels onto a facility's grid: providers, capture catalogue, masks, warping."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("campwatch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
