/* campwatch before/after viewer: Leaflet map, capture timeline, swipe, overlays.
 * Data comes from data.js (window.CAMPWATCH_VIEWER), written by pipeline/viewer/build.py.
 * Nothing is fetched: the page works from file:// and any static server. */
(function () {
  "use strict";

  var D = window.CAMPWATCH_VIEWER;
  var BLANK = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
  var CHANGE_COLOURS = {
    new_or_brighter: "#ff2d2d",
    removed_or_darker: "#2d8cff",
    vegetation_gain: "#3ddc4a",
    vegetation_loss: "#ff9f1a",
    earthworks: "#c27c3a"
  };
  var OTHER_COLOUR = "#ff3df5";
  var ZONE_COLOUR = "#ffe14d";
  var captures = D.captures;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function fmtArea(v) {
    if (v === null || v === undefined || v === "") { return "unknown"; }
    var n = Number(v);
    if (!isFinite(n)) { return String(v); }
    return Math.round(n).toLocaleString("en-US") + " m²";
  }

  function fmtValue(v) {
    if (v === null || v === undefined || v === "") { return "—"; }
    if (typeof v === "number") { return String(Math.round(v * 1000) / 1000); }
    return String(v);
  }

  function capLabel(c) {
    return c.date + " · " + c.sensor + (c.simulated ? " · SIMULATED" : "");
  }

  // ---- map ------------------------------------------------------------------------------
  var minZoom = Math.min.apply(null, captures.map(function (c) { return c.min_zoom; }));
  var maxNative = Math.max.apply(null, captures.map(function (c) { return c.max_zoom; }));
  var map = L.map("map", { minZoom: Math.max(0, minZoom - 2), maxZoom: maxNative + 2 });
  L.control.scale({ imperial: false }).addTo(map);
  map.createPane("before").style.zIndex = 250;
  map.createPane("after").style.zIndex = 260;
  var beforePane = map.getPane("before");
  var afterPane = map.getPane("after");

  // Tiles exist only inside each zoom's written range: never ask for a missing file.
  var CaptureTiles = L.TileLayer.extend({
    getTileUrl: function (coords) {
      var r = this.options.ranges[String(coords.z)];
      if (!r || coords.x < r[0] || coords.x > r[1] || coords.y < r[2] || coords.y > r[3]) {
        return BLANK;
      }
      return L.TileLayer.prototype.getTileUrl.call(this, coords);
    }
  });

  function captureLayer(c, pane) {
    return new CaptureTiles(c.tiles, {
      pane: pane,
      ranges: c.zooms,
      minNativeZoom: c.min_zoom,
      maxNativeZoom: c.max_zoom,
      maxZoom: maxNative + 2,
      bounds: L.latLngBounds(c.bounds),
      tileSize: 256,
      className: "cw-tiles cw-" + pane,
      attribution: c.sensor + " " + c.date + (c.simulated ? " (simulated)" : "")
    });
  }

  var all = L.latLngBounds(captures[0].bounds);
  captures.forEach(function (c) { all.extend(L.latLngBounds(c.bounds)); });
  map.fitBounds(all);

  // ---- before / after ------------------------------------------------------------------
  var state = { before: 0, after: captures.length - 1, beforeLayer: null, afterLayer: null };
  var labelBefore = document.getElementById("label-before");
  var labelAfter = document.getElementById("label-after");

  function show(which, index) {
    var key = which + "Layer";
    if (state[key]) { map.removeLayer(state[key]); }
    state[which] = index;
    state[key] = captureLayer(captures[index], which).addTo(map);
    (which === "before" ? labelBefore : labelAfter).textContent =
      (which === "before" ? "BEFORE · " : "AFTER · ") + capLabel(captures[index]);
    refreshTimeline();
    refreshChanges();
  }

  // ---- swipe -----------------------------------------------------------------------------
  var swipe = document.getElementById("swipe");
  var divider = document.getElementById("swipe-divider");
  L.DomEvent.disableClickPropagation(swipe);
  L.DomEvent.on(swipe, "mousedown touchstart pointerdown", L.DomEvent.stopPropagation);

  function clip() {
    var size = map.getSize();
    var x = Math.round(size.x * Number(swipe.value) / Number(swipe.max));
    var nw = map.containerPointToLayerPoint([0, 0]);
    var se = map.containerPointToLayerPoint(size);
    var cx = nw.x + x;
    beforePane.style.clip = "rect(" + nw.y + "px," + cx + "px," + se.y + "px," + nw.x + "px)";
    afterPane.style.clip = "rect(" + nw.y + "px," + se.x + "px," + se.y + "px," + cx + "px)";
    divider.style.left = x + "px";
  }
  swipe.addEventListener("input", clip);
  map.on("move zoom resize viewreset", clip);
  // the divider sits above Leaflet's panes: fade it while a popup is open
  var wrap = document.getElementById("map-wrap");
  map.on("popupopen", function () { wrap.classList.add("popup-open"); });
  map.on("popupclose", function () { wrap.classList.remove("popup-open"); });

  // ---- timeline --------------------------------------------------------------------------
  var tbody = document.querySelector("#timeline tbody");
  var rows = [];
  captures.forEach(function (c, i) {
    var tr = el("tr");
    tr.dataset.captureId = c.id;
    ["before", "after"].forEach(function (which) {
      var td = el("td");
      var input = el("input");
      input.type = "radio";
      input.name = which;
      input.value = String(i);
      input.title = which + ": " + c.id;
      input.addEventListener("change", function () { show(which, i); });
      td.appendChild(input);
      tr.appendChild(td);
    });
    var date = el("td", c.date);
    date.title = c.acquired + " · " + c.id;
    tr.appendChild(date);
    var sensor = el("td", c.sensor);
    if (c.simulated) { sensor.appendChild(el("span", " SIM", "sim")); }
    tr.appendChild(sensor);
    tr.appendChild(el("td", fmtValue(c.gsd_m) + " m"));
    tbody.appendChild(tr);
    rows.push(tr);
  });

  function refreshTimeline() {
    rows.forEach(function (tr, i) {
      tr.classList.toggle("is-before", i === state.before);
      tr.classList.toggle("is-after", i === state.after);
      tr.querySelector('input[name="before"]').checked = i === state.before;
      tr.querySelector('input[name="after"]').checked = i === state.after;
    });
  }

  // ---- overlays --------------------------------------------------------------------------
  function popup(props, kind) {
    var div = el("div", null, "cw-popup");
    if (kind === "zones") {
      div.appendChild(el("h3", props.name || props.zone_id || "zone"));
      var zt = el("table");
      [["zone", props.zone_id], ["type", props.zone_type], ["source", props.source]].forEach(
        function (row) { addRow(zt, row[0], fmtValue(row[1])); });
      div.appendChild(zt);
      return div;
    }
    div.appendChild(el("h3", props.label || props.change_type || kind));
    var t = el("table");
    addRow(t, "type", fmtValue(props.change_type));
    addRow(t, "area", fmtArea(props.area_m2));
    addRow(t, "before", fmtValue(props.before_date));
    addRow(t, "after", fmtValue(props.after_date));
    addRow(t, "review", fmtValue(props.review_status));
    var shown = { label: 1, change_type: 1, area_m2: 1, before_date: 1, after_date: 1, review_status: 1 };
    Object.keys(props).sort().forEach(function (k) {
      if (!shown[k]) { addRow(t, k.replace(/_/g, " "), fmtValue(props[k])); }
    });
    div.appendChild(t);
    return div;
  }

  function addRow(table, key, value) {
    var tr = el("tr");
    tr.appendChild(el("th", key));
    tr.appendChild(el("td", value));
    table.appendChild(tr);
  }

  function bind(kind) {
    return function (feature, layer) {
      layer.bindPopup(function () { return popup(feature.properties || {}, kind); });
    };
  }

  var zones = L.geoJSON(D.layers.zones, {
    style: { color: ZONE_COLOUR, weight: 2, dashArray: "6 4", fill: false },
    onEachFeature: bind("zones")
  });
  function colour(f) {
    return CHANGE_COLOURS[f.properties.change_type] || OTHER_COLOUR;
  }
  var changes = L.geoJSON(null, {
    style: function (f) {
      return { color: colour(f), weight: 1.5, dashArray: "4 3", fillColor: colour(f), fillOpacity: 0.1 };
    },
    onEachFeature: bind("changes")
  });
  var events = L.geoJSON(null, {
    style: function (f) {
      return { color: colour(f), weight: 3, fillColor: colour(f), fillOpacity: 0.25 };
    },
    onEachFeature: bind("events")
  });
  var onlyBetween = document.getElementById("only-between");
  onlyBetween.addEventListener("change", refreshChanges);

  // Changes and events whose bracket lies within the picked dates (or all of them).
  function refreshChanges() {
    var b = captures[state.before].date;
    var a = captures[state.after].date;
    var lo = b < a ? b : a;
    var hi = b < a ? a : b;
    function keep(f) {
      if (!onlyBetween.checked) { return true; }
      var p = f.properties;
      return !(p.before_date && p.before_date < lo) && !(p.after_date && p.after_date > hi);
    }
    [[changes, D.layers.changes], [events, D.layers.events]].forEach(function (pair) {
      pair[0].clearLayers();
      pair[0].addData(pair[1].features.filter(keep));
    });
  }

  zones.addTo(map);
  events.addTo(map);
  // Every detected change is off by default when there are events: events are the changes
  // that persist, and drawing both doubles the outlines.
  if (!D.layers.events.features.length) { changes.addTo(map); }
  L.control.layers(null, {
    "Zones": zones,
    "Events (supported by the series)": events,
    "All detected changes": changes
  }, { collapsed: false, position: "bottomright" }).addTo(map);

  var legend = document.getElementById("legend");
  var types = {};
  D.layers.changes.features.concat(D.layers.events.features).forEach(function (f) {
    types[f.properties.change_type || "other"] = true;
  });
  Object.keys(types).sort().forEach(function (t) {
    var li = el("li");
    var sw = el("span", null, "swatch");
    sw.style.borderColor = CHANGE_COLOURS[t] || OTHER_COLOUR;
    li.appendChild(sw);
    li.appendChild(el("span", t.replace(/_/g, " ")));
    legend.appendChild(li);
  });
  if (!Object.keys(types).length) { legend.appendChild(el("li", "no changes in this workspace")); }

  const ordinal = (n) => {
    const tens = n % 100, ones = n % 10;
    const suffix = tens >= 11 && tens <= 13 ? "th" : ones === 1 ? "st" : ones === 2 ? "nd" :
      ones === 3 ? "rd" : "th";
    return n + suffix;
  };
  document.getElementById("about-text").textContent =
    "True colour (red, green, blue surface reflectance). All captures share one linear " +
    "stretch, from the " + ordinal(D.stretch_percentiles[0]) + " to the " +
    ordinal(D.stretch_percentiles[1]) + " percentile of each band pooled over every capture, so unchanged ground looks the " +
    "same on both sides of the swipe. Rendered from the facility grid (" + D.crs + ") into Web " +
    "Mercator tiles by campwatch " + D.campwatch_version + "; transparent where there is no data.";

  show("before", state.before);
  show("after", state.after);
  clip();

  window.campwatchViewer = {
    map: map,
    show: show,
    setSwipe: function (fraction) {
      swipe.value = String(Math.round(fraction * Number(swipe.max)));
      clip();
    },
    layers: { zones: zones, changes: changes, events: events },
    state: state
  };
}());
