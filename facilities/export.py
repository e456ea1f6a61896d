"""The registry as a table, as GeoJSON and as an offline HTML map.

Pure functions of a loaded registry (``{id: Facility}``): :func:`registry_rows` (what
``campwatch facilities list`` prints), :func:`registry_geojson` (``--geojson``: one AOI polygon
and one point per source location, with names, type, status and sources) and
:func:`registry_map_html` (one self-contained page with Leaflet inlined: no network, no tiles).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shapely.geometry import mapping

from facilities.model import Facility, Source

EXPORT_VERSION = 1
"""Version of the ``--geojson`` property layout."""


def _short(src: Source | None) -> str:
    """A source in a few words: "HRNK 2016", "Wikipedia 2018"."""
    if src is None:
        return "-"
    pub = src.publisher
    if "(" in pub and ")" in pub:
        pub = pub[pub.index("(") + 1 : pub.index(")")]
    return f"{pub} {src.date[:4]}" if src.date[:4].isdigit() else pub


def _source_json(s: Source) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "title": s.title,
        "authors": list(s.authors),
        "publisher": s.publisher,
        "date": s.date,
        "url": s.url,
        "quote": s.quote,
    }
    for key in ("read_at", "lat", "lon", "note"):
        if getattr(s, key) is not None:
            out[key] = getattr(s, key)
    return out


def registry_rows(registry: Mapping[str, Facility]) -> list[dict[str, Any]]:
    """One row per facility, sorted by id: what ``facilities list`` shows and ``--json`` prints.

    Example:
        >>> from facilities.load import load_registry
        >>> row = registry_rows(load_registry())[0]
        >>> row["id"], row["type"], row["status"], row["source"]
        ('choma-bong-restricted-area', 'other', 'unknown', 'HRNK 2016')
    """
    rows = []
    for f in sorted(registry.values(), key=lambda f: f.id):
        rp = f.reported_point
        src = f.source(rp.source_id)
        st = f.status
        rows.append(
            {
                "id": f.id,
                "type": f.facility_type,
                "status": st.status if st else "-",
                "status_as_of": st.as_of if st else None,
                "name": f.names.english,
                "lat": rp.lat,
                "lon": rp.lon,
                "source": _short(src) if src else rp.citation,
                "source_url": src.url if src else None,
                "file": str(f.source_path),
            }
        )
    return rows


def facility_properties(f: Facility) -> dict[str, Any]:
    """JSON-ready properties of a facility (names, type, status, extent, sources, AOI method)."""
    st, ex, rp = f.status, f.extent, f.reported_point
    return {
        "id": f.id,
        "name_en": f.names.english,
        "name_ko": f.names.korean,
        "name_mr": f.names.mccune_reischauer,
        "name_rr": f.names.revised_romanization,
        "aliases": list(f.names.aliases),
        "names_source": f.names_source,
        "type": f.facility_type,
        "country": f.country,
        "reported_lat": rp.lat,
        "reported_lon": rp.lon,
        "reported_source": rp.source_id,
        "reported_citation": rp.citation,
        "status": st.status if st else None,
        "status_as_of": st.as_of if st else None,
        "status_source": st.source_id if st else None,
        "status_quote": st.quote if st else None,
        "status_note": st.note if st else None,
        "extent_quote": ex.quote if ex else None,
        "extent_source": ex.source_id if ex else None,
        "aoi_method": f.aoi_method,
        "sources": [_source_json(s) for s in f.sources],
    }


def registry_geojson(registry: Mapping[str, Facility]) -> dict[str, Any]:
    """The registry as one GeoJSON FeatureCollection (RFC 7946, WGS 84 lon/lat).

    Per facility: its AOI polygon (``feature_type: "aoi"``, all properties) and one point per
    source that prints a location (``feature_type: "source_point"``), so that two sources that
    disagree are both on the map; ``reported`` marks the point the facility uses.

    Example:
        >>> from facilities.load import load_registry
        >>> fc = registry_geojson(load_registry())
        >>> fc["type"], sorted({f["properties"]["feature_type"] for f in fc["features"]})
        ('FeatureCollection', ['aoi', 'source_point'])
    """
    features: list[dict[str, Any]] = []
    for f in sorted(registry.values(), key=lambda f: f.id):
        props = {"feature_type": "aoi", **facility_properties(f)}
        features.append({"type": "Feature", "geometry": mapping(f.aoi), "properties": props})
        points = [s for s in f.sources if s.has_point]
        if not points:  # an older definition: its reported point, uncited
            rp = f.reported_point
            points = [
                Source("reported", rp.citation, (), "-", "n.d.", "", "", lat=rp.lat, lon=rp.lon)
            ]
        for s in points:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
                    "properties": {
                        "feature_type": "source_point",
                        "facility_id": f.id,
                        "source": s.id,
                        "reported": s.id == f.reported_point.source_id or s.id == "reported",
                        "title": s.title,
                        "url": s.url,
                        "quote": s.quote,
                    },
                }
            )
    return {
        "type": "FeatureCollection",
        "name": "campwatch-registry",
        "campwatch_export_version": EXPORT_VERSION,
        "features": json.loads(json.dumps(features)),  # tuples -> lists
    }


MAP_STYLE = """
html, body { margin: 0; height: 100%; font: 14px/1.4 system-ui, sans-serif; }
#map { position: absolute; top: 0; bottom: 0; left: 0; right: 320px; background: #dfe6ea; }
#list { position: absolute; top: 0; bottom: 0; right: 0; width: 320px; overflow: auto;
        padding: 8px 12px; box-sizing: border-box; background: #fff; border-left: 1px solid #ccc; }
#list h1 { font-size: 16px; margin: 4px 0 8px; }
#list .fac { margin: 0 0 10px; cursor: pointer; }
#list .fac b { display: block; }
.cw-popup blockquote { margin: 4px 0; padding-left: 8px; border-left: 3px solid #999; }
.cw-note { color: #555; font-size: 12px; }
"""

MAP_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('registry').textContent);
  var map = L.map('map', {zoomSnap: 0.25});
  var colours = {active: '#c0392b', closed: '#7f8c8d', 'reported-closed': '#d68910',
                 unknown: '#2e86c1'};
  var esc = function (s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  };
  var popup = function (p) {
    var src = p.sources.filter(function (s) { return s.id === p.reported_source; })[0];
    var h = '<div class="cw-popup"><b>' + esc(p.name_en) + '</b>';
    if (p.name_ko) h += ' ' + esc(p.name_ko);
    h += '<br>type: ' + esc(p.type) + ' &middot; status: ' + esc(p.status || '-');
    if (p.status_as_of) h += ' (as of ' + esc(p.status_as_of) + ')';
    h += '<br>reported point: ' + p.reported_lat + ', ' + p.reported_lon;
    if (src) {
      h += '<br>source: <a href="' + esc(src.url) + '">' + esc(src.title) + '</a> (' +
           esc(src.publisher) + ', ' + esc(src.date) + ')<blockquote>' + esc(src.quote) +
           '</blockquote>';
    } else {
      h += '<br>source: ' + esc(p.reported_citation);
    }
    h += '<div class="cw-note">AOI: ' + esc(p.aoi_method) + '</div></div>';
    return h;
  };
  var layers = {};
  var all = L.featureGroup().addTo(map);
  data.features.forEach(function (f) {
    var p = f.properties, layer;
    if (p.feature_type === 'aoi') {
      layer = L.geoJSON(f, {style: {color: colours[p.status] || '#333', weight: 2,
                                    fillOpacity: 0.12}});
      layer.bindPopup(popup(p), {maxWidth: 420});
      layers[p.id] = layer;
    } else {
      layer = L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]],
        {radius: p.reported ? 5 : 4, color: p.reported ? '#000' : '#8e44ad', weight: 2,
         fillOpacity: 0.9});
      layer.bindTooltip(esc(p.facility_id) + ': ' + esc(p.title));
    }
    all.addLayer(layer);
  });
  map.fitBounds(all.getBounds(), {padding: [20, 20]});
  L.control.scale({imperial: false}).addTo(map);
  document.querySelectorAll('#list .fac').forEach(function (el) {
    el.addEventListener('click', function () {
      var layer = layers[el.dataset.id];
      map.fitBounds(layer.getBounds());
      layer.openPopup();
    });
  });
  window.campwatchRegistry = {map: map, layers: layers, count: Object.keys(layers).length};
})();
"""


def registry_map_html(
    registry: Mapping[str, Facility], leaflet_dir: Path, title: str = "campwatch registry"
) -> str:
    """A self-contained offline HTML map: every AOI, every source point, a popup with the source.

    ``leaflet_dir`` holds the vendored ``leaflet.js`` and ``leaflet.css``, inlined with Leaflet's
    licence so the single file works from disk without any network (there is no base map).

    Example:
        >>> from facilities.load import load_registry
        >>> page = registry_map_html(load_registry(), Path("pipeline/viewer/static/leaflet"))
        >>> page.startswith("<!DOCTYPE html>"), "<script src=" in page
        (True, False)
    """
    js = (leaflet_dir / "leaflet.js").read_text(encoding="utf-8")
    css = (leaflet_dir / "leaflet.css").read_text(encoding="utf-8")
    licence = (leaflet_dir / "LICENSE").read_text(encoding="utf-8")
    data = json.dumps(registry_geojson(registry), ensure_ascii=False).replace("</", "<\\/")
    items = []
    for r in registry_rows(registry):
        items.append(
            f'<div class="fac" data-id="{html.escape(r["id"])}"><b>{html.escape(r["name"])}</b>'
            f"{html.escape(r['type'])} &middot; {html.escape(r['status'])} &middot; "
            f"{html.escape(r['source'])}</div>"
        )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<!-- Leaflet (vendored, inlined). Licence:\n{html.escape(licence)}\n-->",
            f"<style>{css}</style><style>{MAP_STYLE}</style></head><body>",
            '<div id="map"></div>',
            f'<div id="list"><h1>{html.escape(title)}</h1>',
            '<p class="cw-note">Search areas around published points, not boundaries. '
            "No base map: this page makes no network request. Outline colour: "
            '<span style="color:#c0392b">active</span>, '
            '<span style="color:#d68910">reported closed</span>, '
            '<span style="color:#7f8c8d">closed</span>, '
            '<span style="color:#2e86c1">unknown</span>; black dots: reported points, '
            "purple dots: other sources' points.</p>",
            *items,
            "</div>",
            f'<script id="registry" type="application/json">{data}</script>',
            f"<script>{js}</script>",
            f"<script>{MAP_SCRIPT}</script>",
            "</body></html>",
            "",
        ]
    )
