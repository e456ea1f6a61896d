"""Run ``campwatch watch`` with a pause point, for the kill tests (test-only code).

``CAMPWATCH_TEST_PAUSE_AT=stage`` makes the process write
``$CAMPWATCH_TEST_PAUSE_FILE`` and sleep at that point, so a test can SIGKILL it
there deterministically. The pause points are installed by wrapping library
functions in this process only: production code carries no hook at all.

Stages: ``search`` (between result pages), ``download`` (between two asset reads of
the second item), ``raster-write`` (the second item's COG written to its temporary
name, not yet renamed), ``catalogue-write`` (inside the second capture's catalogue
transaction, before COMMIT), ``alert-write`` (alerts in the ledger, not yet sent),
``delivery`` (the first webhook delivery settled and recorded, the others not yet).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGE = os.environ.get("CAMPWATCH_TEST_PAUSE_AT", "")
MARK = os.environ.get("CAMPWATCH_TEST_PAUSE_FILE", "")


def _pause(stage: str) -> None:
    Path(MARK).write_text(stage)
    time.sleep(600)


def _on_call(owner: Any, name: str, stage: str, nth: int, after: bool = False) -> None:
    """Pause at the ``nth`` call of ``owner.name`` (before it, or after it returns)."""
    real: Callable[..., Any] = getattr(owner, name)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        n = calls[0]  # this call's number (other threads may call meanwhile)
        if n == nth and not after:
            _pause(stage)
        result = real(*args, **kwargs)
        if n == nth and after:
            _pause(stage)
        return result

    setattr(owner, name, wrapper)


def install(stage: str) -> None:
    if stage == "search":
        from pystac_client.item_search import ItemSearch

        real = ItemSearch.pages_as_dicts

        def pages(self: Any) -> Any:
            for page in real(self):
                yield page
                _pause("search")

        ItemSearch.pages_as_dicts = pages  # type: ignore[method-assign]
    elif stage == "download":
        import imagery.stac.read

        _on_call(imagery.stac.read, "read_band", stage, 7)  # item 2, second band
    elif stage == "raster-write":
        import imagery.store

        _on_call(imagery.store, "sha256_file", stage, 3)  # item 2's raster, before rename
    elif stage == "catalogue-write":
        from imagery.catalogue import Catalogue

        _on_call(Catalogue, "_refresh_extent", stage, 2)  # inside item 2's transaction
    elif stage == "alert-write":
        from pipeline.watch.webhooks import WebhookDispatcher

        _on_call(WebhookDispatcher, "submit", stage, 2)  # fresh alerts written, not sent
    elif stage == "delivery":
        from pipeline.watch.ledger import DeliveryLedger

        _on_call(DeliveryLedger, "record", stage, 1, after=True)
    elif stage:
        raise SystemExit(f"unknown pause stage {stage!r}")


if __name__ == "__main__":
    install(STAGE)
    from pipeline.cli.watch import watch

    watch.main(args=sys.argv[1:], prog_name="campwatch watch")
