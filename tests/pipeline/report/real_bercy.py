"""A real-imagery workspace for the report tests: two Sentinel-2 L1C captures of Bercy
(Paris), from ``../shared/data/oscd/bercy``, ingested by the CLI into a facility defined here.

The 10 m bands (B02, B03, B04, B08) of each date are stacked into one 4-band GeoTIFF in a
temporary folder (never in the repository), named with the acquisition date so that one
``campwatch ingest --date-from-name`` dates each file from its own name. The facility's
single zone is marked ``"simulated": true`` (drawn without evidence), the imagery is real.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

BANDS_10M = ("B02", "B03", "B04", "B08")
FACILITY_ID = "bercy-test"
DATES = {"imgs_1": "20161130", "imgs_2": "20170829"}
CREDIT = "Contains modified Copernicus Sentinel data 2016-2017 (ESA)"
LON0, LAT0 = 2.3805, 48.8365
"""The facility's reported point (centre of the OSCD Bercy tile)."""
ZONE = [[2.3835, 48.8215], [2.3945, 48.8215], [2.3945, 48.8290], [2.3835, 48.8290],
        [2.3835, 48.8215]]
"""The one zone, drawn by hand for the test (no evidence) over the rail tracks at the south
edge of the tile, where OSCD labels change (it lay over the Bercy yard 1 km north, where the
only events were greening): marked simulated."""


def stack_deliveries(shared_data: Path, out_dir: Path) -> list[Path]:
    """Stack each OSCD Bercy date's 10 m bands into ``out_dir/bercy_YYYYMMDD.tif``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for folder, day in DATES.items():
        bands = []
        profile = None
        for band in BANDS_10M:
            (path,) = sorted((shared_data / "oscd" / "bercy" / folder).glob(f"*_{band}.tif"))
            with rasterio.open(path) as src:
                bands.append(src.read(1))
                if profile is None:
                    profile = src.profile
        assert profile is not None
        profile.update(count=4, driver="GTiff", compress="deflate", nodata=0)
        out = out_dir / f"bercy_{day}.tif"
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(np.stack(bands))
            dst.descriptions = ("blue", "green", "red", "nir")
        paths.append(out)
    return paths


def write_facility(shared_data: Path, out_dir: Path) -> Path:
    """A facility definition over Bercy with one zone marked simulated."""
    aoi = json.loads((shared_data / "oscd" / "bercy" / "bercy.geojson").read_text())
    ring = aoi["features"][0]["geometry"]["coordinates"][0]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    # the OSCD tile, inset by 1 %: with two captures a change must stand out from its
    # neighbourhood (pipeline/change/evidence.py), and none in a 1.6 km square around the
    # point does (its events were the rail yard greening from November to August)
    ix, iy = 0.01 * (max(lons) - min(lons)), 0.01 * (max(lats) - min(lats))
    assert min(lons) < LON0 < max(lons) and min(lats) < LAT0 < max(lats)
    w, e, s, n = min(lons) + ix, max(lons) - ix, min(lats) + iy, max(lats) - iy
    square = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    doc = {
        "type": "FeatureCollection",
        "name": FACILITY_ID,
        "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]},
             "properties": {
                 "feature_type": "facility", "id": FACILITY_ID,
                 "name_en": "Bercy test site (real Sentinel-2, not a facility)",
                 "aliases": [], "type": "other", "country": "FRA",
                 "reported_lat": LAT0, "reported_lon": LON0,
                 "reported_citation": "Centre of the OSCD Bercy tile (Caye Daudt et al. 2018)",
                 "aoi_method": "A 1.6 km square around the point, drawn for the test."}},
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ZONE]},
             "properties": {
                 "feature_type": "zone", "zone_id": "yard", "zone_type": "industry",
                 "name": "Rail yard (drawn for the test)",
                 "source": "Drawn by hand for the test; NOT digitised from imagery.",
                 "simulated": True}},
        ],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{FACILITY_ID}.geojson"
    path.write_text(json.dumps(doc, indent=1))
    return path
