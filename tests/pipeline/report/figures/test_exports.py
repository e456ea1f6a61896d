"""GeoTIFF, GeoJSON and KMZ exports of the figure's annotations."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from pyproj import Transformer
from rasterio.warp import transform_bounds
from shapely.geometry import Polygon, shape

from pipeline.errors import FigureError
from pipeline.report.exports import export_geojson, export_geotiff, export_kmz
from pipeline.report.figure_parts import stretch_rgb, to_uint8
from pipeline.report.figures import FigureImage, Overlay

KML = "{http://www.opengis.net/kml/2.2}"


def test_geotiff_is_on_the_grid_without_shift(scene: Any, tmp_path: Path) -> None:
    img = scene.image(nodata=True)
    out = export_geotiff(img, [], tmp_path / "a.tif")
    expected, valid = to_uint8(stretch_rgb(img.image))
    with rasterio.open(out) as ds:
        assert (ds.count, ds.dtypes, ds.crs.to_string()) == (3, ("uint8",) * 3, scene.crs)
        assert ds.transform == Affine(1.0, 0.0, scene.west, 0.0, -1.0, scene.north)
        assert (ds.width, ds.height) == (scene.size, scene.size)
        data = ds.read()
        mask = ds.dataset_mask()
        assert ds.tags()["CAPTION"].startswith("Kyo-hwa-so No. 4, Kangdong — 2015-06-30")
    # every valid pixel is exactly the stretched image at the same row/column
    assert np.array_equal(np.moveaxis(data, 0, -1)[valid], expected[valid])
    assert (mask[:30, :50] == 0).all() and (mask[30:, :] == 255).all()
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif"]


def test_geotiff_burns_outlines_and_scales_on_the_same_origin(
    scene: Any, tmp_path: Path, overlays: list[Overlay]
) -> None:
    img = scene.image()
    plain = tmp_path / "plain.tif"
    export_geotiff(img, [], plain)
    out = export_geotiff(img, overlays, tmp_path / "b.tif", scale=2)
    with rasterio.open(out) as ds, rasterio.open(plain) as ref:
        assert ds.transform == Affine(0.5, 0.0, scene.west, 0.0, -0.5, scene.north)
        assert (ds.width, ds.height) == (2 * scene.size, 2 * scene.size)
        annotated = ds.read()
        base = ref.read()
        assert json.loads(ds.tags()["OVERLAYS"])[2] == {
            "label": "New roof, 600 m²", "kind": "change:new_structure"}
    # far from every outline the pixels are the plain image, replicated 2×2
    assert np.array_equal(annotated[:, 2 * 195:2 * 198, 2 * 5:2 * 8],
                          base[:, 195:198, 5:8].repeat(2, axis=1).repeat(2, axis=2))
    # the perimeter outline (x = scene.west + 10 m) changed pixels along its column
    assert (annotated[:, 2 * 100, 2 * 10 - 1:2 * 10 + 1] != base[:, 100, 10:11]).any()


def test_geotiff_bad_scale_and_missing_folder(scene: Any, tmp_path: Path) -> None:
    with pytest.raises(FigureError, match="scale must be an integer from 1 to 16, got 0"):
        export_geotiff(scene.image(), [], tmp_path / "a.tif", scale=0)
    with pytest.raises(FigureError, match=r"export directory '.*nowhere' does not exist"):
        export_geotiff(scene.image(), [], tmp_path / "nowhere" / "a.tif")


def test_geojson_is_lonlat_near_the_facility(
    scene: Any, tmp_path: Path, overlays: list[Overlay]
) -> None:
    img = scene.image()
    out = export_geojson(overlays, tmp_path / "o.geojson", crs=scene.crs, caption=img.caption)
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert [f["properties"]["kind"] for f in doc["features"]] == [o.kind for o in overlays]
    assert doc["features"][1]["properties"]["label"] == "Housing blocks"
    assert doc["features"][1]["properties"]["simulated"] is False
    back = Transformer.from_crs(4326, scene.crs, always_xy=True)
    for feature, ov in zip(doc["features"], overlays, strict=True):
        ring = feature["geometry"]["coordinates"][0]
        for lon, lat in ring:
            assert 126.13 < lon < 126.17 and 39.00 < lat < 39.03
        g = shape(feature["geometry"])
        assert isinstance(g, Polygon)
        assert g.exterior.is_ccw
        x, y = back.transform(g.centroid.x, g.centroid.y)
        assert abs(x - ov.geometry.centroid.x) < 0.05 and abs(y - ov.geometry.centroid.y) < 0.05


def test_geojson_bad_crs(tmp_path: Path) -> None:
    with pytest.raises(FigureError, match="overlay CRS 'EPSG:99999' is not a CRS"):
        export_geojson([], tmp_path / "o.geojson", crs="EPSG:99999")


def test_kmz_has_ground_overlay_matching_the_extent(
    scene: Any, tmp_path: Path, overlays: list[Overlay]
) -> None:
    img: FigureImage = scene.image(simulated=True)
    out = export_kmz(img, overlays, tmp_path / "a.kmz")
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist()[0] == "doc.kml"
        root = ET.fromstring(zf.read("doc.kml"))
        png = Image.open(io.BytesIO(zf.read("files/image.png")))
        png.load()
    ground = root.find(f"{KML}Document/{KML}GroundOverlay")
    assert ground is not None
    assert ground.findtext(f"{KML}Icon/{KML}href") == "files/image.png"
    llb = {k: float(ground.findtext(f"{KML}LatLonBox/{KML}{k}") or "nan")
           for k in ("west", "south", "east", "north")}
    west, south, east, north = transform_bounds(scene.crs, "EPSG:4326", *img.bounds, densify_pts=21)
    res_lat = 1.0 / 111_320.0  # one 1 m pixel in degrees of latitude
    assert abs(llb["north"] - north) < res_lat and abs(llb["south"] - south) < 2 * res_lat
    assert abs(llb["west"] - west) < 2 * res_lat and abs(llb["east"] - east) < 3 * res_lat
    assert png.mode == "RGBA"
    w, h = png.size
    assert abs((llb["east"] - llb["west"]) / w - (llb["north"] - llb["south"]) / h * 1.287) < 1e-6
    alpha = np.asarray(png)[..., 3]
    assert alpha.max() == 255 and alpha.min() == 0  # rotated grid leaves transparent corners
    names = [pm.findtext(f"{KML}name") for pm in root.iter(f"{KML}Placemark")]
    assert names == [o.label for o in overlays]
    assert (root.findtext(f"{KML}Document/{KML}name") or "").startswith("SIMULATED")
    coords = root.find(f".//{KML}Placemark/{KML}MultiGeometry/{KML}Polygon//{KML}coordinates")
    assert coords is not None and coords.text is not None
    lon, lat, _ = (float(v) for v in coords.text.split()[0].split(","))
    assert 126.13 < lon < 126.17 and 39.00 < lat < 39.03
