"""The figure's annotations as GIS files: GeoTIFF, GeoJSON and KMZ (Google Earth).

- :func:`export_geotiff`: the stretched true-colour image with outlines and labels
  burned in, as a 3-band uint8 GeoTIFF on the facility grid (no data in the
  internal mask);
- :func:`export_geojson`: the overlays in WGS 84 (RFC 7946), properties label, kind;
- :func:`export_kmz`: the stretched image reprojected to EPSG:4326 as a
  GroundOverlay, plus one placemark per overlay.

Every file is written atomically (temporary file in the same folder, then rename);
callers decide about ``--overwrite`` before calling.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
import shapely
from affine import Affine
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from imagery.store import created_mode
from pipeline.errors import FigureError
from pipeline.report.figure_parts import (
    draw_overlays,
    kind_colour,
    lonlat_transformer,
    stretch_rgb,
    to_uint8,
)
from pipeline.report.figures import Caption, FigureImage, Overlay
from pipeline.report.labels import feature_boxes, label_specs, place_labels

__all__ = ["export_geojson", "export_geotiff", "export_kmz"]

log = logging.getLogger(__name__)

KML_NS = "http://www.opengis.net/kml/2.2"
_LABEL_PX = 11.0  # label text height in output pixels (GeoTIFF)


@contextmanager
def _atomic(out_path: Path) -> Iterator[Path]:
    """A temporary path beside ``out_path`` that replaces it when the block succeeds."""
    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise FigureError(f"export directory {str(out_path.parent)!r} does not exist")
    fd, name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=out_path.suffix,
                                dir=out_path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, created_mode())  # the process umask, not mkstemp's 0600
        os.replace(tmp, out_path)
    finally:
        sidecars = (tmp.with_name(tmp.name + ".msk"), tmp.with_name(tmp.name + ".aux.xml"))
        for leftover in (tmp, *sidecars):
            if leftover.exists():
                leftover.unlink()


def _check_overlays(overlays: Sequence[Overlay]) -> None:
    for ov in overlays:
        if not isinstance(ov, Overlay):
            raise FigureError(f"overlays must be Overlay records, got {type(ov).__name__}")


def _burn(image: FigureImage, overlays: Sequence[Overlay], scale: int, gamma: float) -> np.ndarray:
    """Render image + outlines + labels onto exactly (H*scale, W*scale) RGBA pixels."""
    _, h, w = image.image.shape
    rgb8, valid = to_uint8(stretch_rgb(image.image, gamma=gamma))
    rgba = np.dstack([rgb8, np.where(valid, 255, 0).astype(np.uint8)])
    out_w, out_h = w * scale, h * scale
    dpi = 100
    fig = Figure(figsize=(out_w / dpi, out_h / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    if canvas.get_width_height() != (out_w, out_h):
        raise FigureError(
            f"cannot render {out_w}×{out_h} px exactly (got {canvas.get_width_height()})"
        )
    fig.patch.set_alpha(0.0)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    west, south, east, north = image.bounds
    ax.imshow(rgba, extent=(west, east, south, north), interpolation="nearest",
              origin="upper", zorder=1, resample=False)
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    draw_overlays(ax, [(o.geometry, o.kind) for o in overlays])
    renderer = canvas.get_renderer()
    view = box(*image.bounds)
    _, unplaced = place_labels(ax, label_specs(overlays, view), renderer,
                               fontsize=_LABEL_PX * 72.0 / dpi / 1.3,
                               obstacles=feature_boxes(ax, overlays, view))
    if unplaced:
        log.warning("GeoTIFF: no room for labels %s", [u.text for u in unplaced])
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def export_geotiff(
    image: FigureImage,
    overlays: Sequence[Overlay],
    out_path: Path,
    *,
    scale: int = 1,
    gamma: float = 1.0,
) -> Path:
    """Write the annotated image as a georeferenced 3-band uint8 GeoTIFF on the grid.

    Pixels are the 2–98 % stretched true colour with outlines and labels burned
    in. With ``scale`` = 1 the raster has the image's own transform (same pixel
    edges, no half-pixel shift); ``scale`` > 1 renders ``scale``² output pixels
    per grid pixel on the same origin, for legible labels. No-data pixels are
    0 and masked in the GeoTIFF's internal mask band; the caption and overlay
    labels are stored as tags (``CAPTION``, ``SIMULATED``, ``OVERLAYS``).

    Example:
        >>> import numpy as np, tempfile
        >>> from datetime import UTC, datetime
        >>> cap = Caption("Camp", datetime(2015, 6, 30, tzinfo=UTC), "WorldView-2", 0.5,
        ...               39.0, 126.15, "© 2015 DigitalGlobe", False)
        >>> img = FigureImage(np.random.default_rng(0).random((4, 64, 64), dtype="float32"),
        ...                   Affine(1, 0, 252480, 0, -1, 4322640), "EPSG:32652", cap)
        >>> out = export_geotiff(img, [], Path(tempfile.mkdtemp()) / "a.tif")
        >>> with rasterio.open(out) as ds:
        ...     ds.count, ds.dtypes[0], ds.transform == img.transform
        (3, 'uint8', True)
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 16:
        raise FigureError(f"scale must be an integer from 1 to 16, got {scale!r}")
    _check_overlays(overlays)
    rgba = _burn(image, overlays, scale, gamma)
    _, h, w = image.image.shape
    transform = image.transform @ Affine.scale(1.0 / scale)
    bands = np.moveaxis(rgba[..., :3], -1, 0)
    mask = np.where(rgba[..., 3] > 0, 255, 0).astype(np.uint8)
    bands = np.where(mask > 0, bands, 0).astype(np.uint8)
    profile = {
        "driver": "GTiff", "width": w * scale, "height": h * scale, "count": 3,
        "dtype": "uint8", "crs": image.crs, "transform": transform, "photometric": "RGB",
        "compress": "deflate", "interleave": "pixel",
    }
    if w * scale >= 256 and h * scale >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    overlays_tag = json.dumps([{"label": o.label, "kind": o.kind} for o in overlays],
                              ensure_ascii=False)
    with _atomic(out_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(bands)
        dst.write_mask(mask)
        dst.update_tags(CAPTION=image.caption.text(),
                        SIMULATED=str(image.caption.simulated).lower(),
                        OVERLAYS=overlays_tag, SOFTWARE="campwatch")
        for i, name in enumerate(("red", "green", "blue"), start=1):
            dst.set_band_description(i, f"{name} (2-98% stretch, annotated)")
    log.info("wrote GeoTIFF %s", out_path)
    return Path(out_path)


def _to_wgs84(geom: Polygon | MultiPolygon, crs: str) -> Polygon | MultiPolygon:
    out: Polygon | MultiPolygon = shapely.transform(
        geom, lonlat_transformer(crs), interleaved=False  # type: ignore[arg-type]
    )
    return out


def export_geojson(
    overlays: Sequence[Overlay],
    out_path: Path,
    *,
    crs: str,
    caption: Caption | None = None,
) -> Path:
    """Write the overlays as an RFC 7946 GeoJSON FeatureCollection in WGS 84 lon/lat.

    Each feature has properties ``label`` and ``kind`` (and ``simulated``,
    ``acquired``, ``sensor``, ``credit`` from ``caption`` when given).
    Coordinates are rounded to 7 decimals (~1 cm); exterior rings are
    counter-clockwise.

    Example:
        >>> import tempfile
        >>> ov = Overlay(box(252500, 4322000, 252600, 4322100), "Housing", "zone:housing")
        >>> out = export_geojson([ov], Path(tempfile.mkdtemp()) / "o.geojson", crs="EPSG:32652")
        >>> json.loads(out.read_text())["features"][0]["properties"]["label"]
        'Housing'
    """
    _check_overlays(overlays)
    try:
        CRS.from_user_input(crs)
    except CRSError as exc:  # keep the value in the message
        raise FigureError(f"overlay CRS {crs!r} is not a CRS: {exc}") from exc
    extra: dict[str, object] = {}
    if caption is not None:
        extra = {"facility": caption.facility, "acquired": caption.acquired.isoformat(),
                 "sensor": caption.sensor, "credit": caption.credit,
                 "simulated": caption.simulated}
    features = []
    for ov in overlays:
        rounded = shapely.set_precision(_to_wgs84(ov.geometry, crs), 1e-7)
        geom = shapely.orient_polygons(rounded, exterior_cw=False)
        features.append({"type": "Feature", "geometry": mapping(geom),
                         "properties": {"label": ov.label, "kind": ov.kind, **extra}})
    doc = {"type": "FeatureCollection", "features": features}
    with _atomic(out_path) as tmp:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    log.info("wrote GeoJSON %s (%d features)", out_path, len(features))
    return Path(out_path)


def _kml_colour(hex_rgb: str, alpha: int = 255) -> str:
    """"#RRGGBB" -> KML "aabbggrr"."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha:02x}{b}{g}{r}".lower()


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{KML_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _ring(parent: ET.Element, coords: Sequence[tuple[float, ...]]) -> None:
    ring = _sub(_sub(parent, "LinearRing"), "coordinates")
    ring.text = " ".join(f"{c[0]:.7f},{c[1]:.7f},0" for c in coords)


def _warp_to_wgs84(image: FigureImage, gamma: float) -> tuple[np.ndarray, Affine]:
    """Stretched RGBA (4, h, w) uint8 on an EPSG:4326 grid (nearest neighbour)."""
    rgb8, valid = to_uint8(stretch_rgb(image.image, gamma=gamma))
    src = np.concatenate([np.moveaxis(rgb8, -1, 0),
                          np.where(valid, 255, 0).astype(np.uint8)[None]], axis=0)
    west, south, east, north = transform_bounds(image.crs, "EPSG:4326", *image.bounds,
                                                densify_pts=21)
    # degrees per pixel that keep the grid's ground resolution at the centre latitude
    res = image.transform.a / 111_320.0
    coslat = math.cos(math.radians((south + north) / 2))
    dst_w = max(1, math.ceil((east - west) / (res / coslat)))
    dst_h = max(1, math.ceil((north - south) / res))
    dst_transform = Affine((east - west) / dst_w, 0.0, west, 0.0, -(north - south) / dst_h, north)
    dst = np.zeros((4, dst_h, dst_w), dtype=np.uint8)
    reproject(src, dst, src_transform=image.transform, src_crs=image.crs,
              dst_transform=dst_transform, dst_crs="EPSG:4326",
              resampling=Resampling.nearest, src_nodata=None, dst_nodata=None)
    return dst, dst_transform


def export_kmz(
    image: FigureImage,
    overlays: Sequence[Overlay],
    out_path: Path,
    *,
    gamma: float = 1.0,
) -> Path:
    """Write a KMZ for Google Earth: the image as a GroundOverlay plus overlay placemarks.

    The stretched true-colour image is reprojected to EPSG:4326 (nearest
    neighbour, no data transparent) and stored as ``files/image.png``; its
    ``LatLonBox`` is the reprojected grid's bounds. Each overlay becomes a
    placemark (outline polygon plus a labelled point) styled by kind. The
    caption is the document and overlay description; simulated imagery is
    named as such.

    Example:
        >>> import numpy as np, tempfile
        >>> from datetime import UTC, datetime
        >>> cap = Caption("Camp", datetime(2015, 6, 30, tzinfo=UTC), "WorldView-2", 0.5,
        ...               39.0, 126.15, "© 2015 DigitalGlobe", False)
        >>> img = FigureImage(np.random.default_rng(0).random((4, 32, 32), dtype="float32"),
        ...                   Affine(1, 0, 252480, 0, -1, 4322640), "EPSG:32652", cap)
        >>> out = export_kmz(img, [], Path(tempfile.mkdtemp()) / "a.kmz")
        >>> sorted(zipfile.ZipFile(out).namelist())
        ['doc.kml', 'files/image.png']
    """
    _check_overlays(overlays)
    rgba, t = _warp_to_wgs84(image, gamma)
    png = io.BytesIO()
    Image.fromarray(np.moveaxis(rgba, 0, -1), mode="RGBA").save(png, format="PNG")
    _, dst_h, dst_w = rgba.shape
    west, north = t.c, t.f
    east, south = t.c + t.a * dst_w, t.f + t.e * dst_h

    cap = image.caption
    ET.register_namespace("", KML_NS)
    kml = ET.Element(f"{{{KML_NS}}}kml")
    doc = _sub(kml, "Document")
    prefix = "SIMULATED — " if cap.simulated else ""
    _sub(doc, "name", f"{prefix}{cap.facility} — {cap.acquired.date().isoformat()}")
    _sub(doc, "description", cap.text())
    kinds = sorted({o.kind for o in overlays})
    for kind in kinds:
        style = _sub(doc, "Style")
        style.set("id", kind.replace(":", "_"))
        line = _sub(style, "LineStyle")
        _sub(line, "color", _kml_colour(kind_colour(kind)))
        _sub(line, "width", "3" if kind == "event" else "2")
        _sub(_sub(style, "PolyStyle"), "fill", "0")
        _sub(_sub(style, "IconStyle"), "scale", "0")
        _sub(_sub(style, "LabelStyle"), "scale", "0.9")
    ground = _sub(doc, "GroundOverlay")
    _sub(ground, "name", f"{prefix}{cap.sensor} {cap.acquired.date().isoformat()}")
    _sub(ground, "description", cap.text())
    _sub(_sub(ground, "Icon"), "href", "files/image.png")
    box_el = _sub(ground, "LatLonBox")
    for tag, value in (("north", north), ("south", south), ("east", east), ("west", west)):
        _sub(box_el, tag, f"{value:.9f}")
    folder = _sub(doc, "Folder")
    _sub(folder, "name", "Annotations")
    for ov in overlays:
        geom = shapely.orient_polygons(_to_wgs84(ov.geometry, image.crs))
        pm = _sub(folder, "Placemark")
        _sub(pm, "name", ov.label)
        _sub(pm, "styleUrl", "#" + ov.kind.replace(":", "_"))
        data = _sub(_sub(pm, "ExtendedData"), "Data")
        data.set("name", "kind")
        _sub(data, "value", ov.kind)
        multi = _sub(pm, "MultiGeometry")
        p = geom.representative_point()
        _sub(_sub(multi, "Point"), "coordinates", f"{p.x:.7f},{p.y:.7f},0")
        polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
        for poly in polys:
            pe = _sub(multi, "Polygon")
            _sub(pe, "tessellate", "1")
            _ring(_sub(pe, "outerBoundaryIs"), list(poly.exterior.coords))
            for hole in poly.interiors:
                _ring(_sub(pe, "innerBoundaryIs"), list(hole.coords))
    body = ET.tostring(kml, encoding="utf-8", xml_declaration=True)
    with _atomic(out_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", body)
        zf.writestr("files/image.png", png.getvalue(), compress_type=zipfile.ZIP_STORED)
    log.info("wrote KMZ %s (%d×%d px image, %d placemarks)", out_path, dst_w, dst_h,
             len(overlays))
    return Path(out_path)
