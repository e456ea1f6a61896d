"""Names the command line needs before any command runs: option choices, defaults, env vars.

``campwatch --help`` and every ``campwatch CMD -h`` must start fast, so the CLI modules do not
import the libraries that define these values (they pull in SciPy, scikit-image, pystac-client,
rasterio). The copies here are checked against their sources by
``tests/pipeline/test_cli_startup.py``; change both together.
"""

from __future__ import annotations

FACILITIES_ENV_VAR = "CAMPWATCH_FACILITIES"
"""Copy of :data:`facilities.load.ENV_VAR`: extra facility definition directories."""

CHANGE_METHODS: tuple[str, ...] = (
    "default", "difference", "cva", "irmad", "structural", "index", "learned",
)
"""Copy of :data:`pipeline.change.records.METHODS`: detectors ``campwatch change`` accepts."""

PROVIDER_NAMES: tuple[str, ...] = ("earth-search", "planetary-computer", "stac")
"""Copy of :data:`imagery.stac.providers.PROVIDER_NAMES`: ``campwatch fetch --provider``."""

DEFAULT_MIN_CLEAR = 0.6
"""Copy of :data:`imagery.quality.DEFAULT_MIN_CLEAR`: ``campwatch fetch --min-clear``."""
