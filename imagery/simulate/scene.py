"""Layout of the simulated scene: ground cover, structures and the planned events.

Everything is laid out in the facility grid's UTM CRS from the facility's zones
(which, for Kangdong, are outlines drawn for the simulation and marked ``simulated``).
Pixels are not touched here: :mod:`imagery.simulate.render` paints the features.

Events planned (before the scene is cropped to ``size_m``):

* 5 barracks built in the housing zone (rectangles 10-15 m x 30-60 m, 300-900 m²);
* 2 barracks demolished (roof replaced by rubble; buildings present at the start);
* 1 perimeter extension: the east side of the fence moves out to the perimeter zone's
  edge; the changed area is the newly cleared 8 m strip with its fence (several 1000 m²);
* 2 guard posts added at the north-east and south-east corners (7-10 m squares,
  49-100 m²: the only events that may be under 100 m²);
* 3 quarry growth steps (each a few 1000 m² of newly exposed rock).

That is 13 events, 11 of them (85 %) at least 100 m². Events whose geometry does not lie
inside the scene (less a 10 m margin) still happen but are not part of the ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from facilities.grid import FacilityGrid, facility_grid, to_grid_crs
from facilities.model import Facility, Zone
from imagery.errors import SimulationError
from imagery.simulate.records import S2_GSD_M, SimulationParams

MATERIALS: tuple[str, ...] = (
    "forest",
    "grass",
    "bare",
    "crop",
    "paddy",
    "yard",
    "fresh_soil",
    "rubble",
    "rock",
    "road",
    "paved",
    "roof_bright",
    "roof_dark",
    "roof_blue",
    "roof_red",
    "roof_grey",
    "fence",
)
"""Materials a surface can be made of (spectra live in :mod:`imagery.simulate.render`)."""

ROOFS: tuple[str, ...] = ("roof_bright", "roof_dark", "roof_blue", "roof_red", "roof_grey")
"""Roof materials, drawn at random per building."""

BACKGROUND_SURFACES = 3
"""Surfaces 0, 1, 2 are forest, grass and bare ground painted from noise."""

SCENE_MARGIN_M = 10.0
"""Events must lie this far inside the scene edge to be kept in a cropped scene."""

STRIP_WIDTH_M = 8.0
"""Width of the cleared strip along the fence."""


@dataclass(frozen=True)
class Surface:
    """A ground cover drawn with one label value."""

    material: str
    """One of :data:`MATERIALS`."""
    phase_days: float = 0.0
    """Phenology shift in days (fields are sown and harvested on different days)."""
    vigour: float = 1.0
    """Peak greenness of vegetation, 0..1."""


@dataclass(frozen=True)
class Feature:
    """A polygon painted with one surface, possibly appearing or vanishing with an event."""

    geometry: Polygon | MultiPolygon
    """Outline in the scene CRS."""
    surface: int
    """Index into :attr:`Scene.surfaces`."""
    height_m: float = 0.0
    """Height of a structure (casts a shadow when above zero)."""
    appears: str | None = None
    """Key of the event that creates the feature (None: present from the start)."""
    disappears: str | None = None
    """Key of the event that removes the feature (None: never removed)."""

    def visible(self, happened: frozenset[str]) -> bool:
        """Whether the feature is on the ground once the events in ``happened`` took place."""
        if self.appears is not None and self.appears not in happened:
            return False
        return self.disappears is None or self.disappears not in happened


@dataclass(frozen=True)
class PlannedEvent:
    """An event before it is given a date."""

    key: str
    """Stable key used by features (``appears``/``disappears``)."""
    kind: str
    """Event kind (see :data:`imagery.simulate.records.EVENT_KINDS`)."""
    zone: Zone
    """Zone the event lies in."""
    geometry: Polygon
    """Changed area in the scene CRS."""
    when: float
    """Position in the archive's time span, 0..1, used to spread events over the years."""


@dataclass(frozen=True)
class Scene:
    """The simulated ground: a grid, surfaces, painted features and planned events."""

    grid: FacilityGrid
    """Scene grid at the VHR GSD, aligned to multiples of 10 m (no capture margin)."""
    surfaces: tuple[Surface, ...]
    """Label value -> surface."""
    features: tuple[Feature, ...]
    """Polygons painted in order over the background."""
    events: tuple[PlannedEvent, ...]
    """Every planned event, in plan order (also those outside a cropped scene)."""
    observable: frozenset[str]
    """Keys of the events whose geometry lies inside the scene: the ground truth."""
    lon: float
    """Longitude of the facility's reported point (for the sun position)."""
    lat: float
    """Latitude of the facility's reported point."""
    seed: int
    """Seed of the scene's random choices."""


def scene_grid(facility: Facility, params: SimulationParams) -> FacilityGrid:
    """The scene grid: a square of ``size_m`` around the facility grid centre at the VHR GSD.

    Example:
        >>> from facilities.load import load_facility_by_id
        >>> g = scene_grid(load_facility_by_id("kangdong-kyohwaso-4"),
        ...                SimulationParams(size_m=300.0, vhr_gsd_m=1.0))
        >>> g.width, g.height, g.west % 10.0
        (300, 300, 0.0)
    """
    fgrid = facility_grid(facility, S2_GSD_M)
    west, south, east, north = fgrid.bounds
    if params.size_m is not None:
        cx, cy = (west + east) / 2.0, (south + north) / 2.0
        half = params.size_m / 2.0
        west = math.floor((cx - half) / S2_GSD_M) * S2_GSD_M
        east = math.ceil((cx + half) / S2_GSD_M) * S2_GSD_M
        south = math.floor((cy - half) / S2_GSD_M) * S2_GSD_M
        north = math.ceil((cy + half) / S2_GSD_M) * S2_GSD_M
    gsd = params.vhr_gsd_m
    width = int(round((east - west) / gsd))
    height = int(round((north - south) / gsd))
    return FacilityGrid(fgrid.crs, float(gsd), float(west), float(north), width, height)


class _Layout:
    """Accumulates surfaces, features and events while the scene is planned."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.surfaces: list[Surface] = [Surface("forest"), Surface("grass"), Surface("bare")]
        self.features: list[Feature] = []
        self.events: list[PlannedEvent] = []
        self.roads: list[Polygon] = []
        self._by_material: dict[str, int] = {s.material: i for i, s in enumerate(self.surfaces)}

    def surface(
        self, material: str, *, own: bool = False, phase: float = 0.0, vigour: float = 1.0
    ) -> int:
        """Label of ``material`` (a new label when ``own``, e.g. each field parcel)."""
        if not own and material in self._by_material:
            return self._by_material[material]
        self.surfaces.append(Surface(material, phase, vigour))
        idx = len(self.surfaces) - 1
        if not own:
            self._by_material[material] = idx
        return idx

    def paint(self, geom: Polygon | MultiPolygon, material: str, **kw: object) -> None:
        """Append a feature painted with a shared surface of ``material``."""
        if geom.is_empty:
            return
        self.features.append(Feature(geom, self.surface(material), **kw))  # type: ignore[arg-type]

    def road(self, geom: Polygon) -> None:
        """Paint a road and remember it so that buildings keep off it."""
        self.roads.append(geom)
        self.paint(geom, "road")

    def clear_of_roads(self, geom: Polygon, gap: float = 3.0) -> bool:
        """Whether ``geom`` stays ``gap`` metres away from every road."""
        return all(geom.distance(r) > gap for r in self.roads)

    def roof(self) -> str:
        """A random roof material."""
        return ROOFS[int(self.rng.integers(len(ROOFS)))]


def _zones(facility: Facility, crs: str) -> dict[str, tuple[Zone, Polygon]]:
    return {z.id: (z, to_grid_crs(z.geometry, crs)) for z in facility.zones}


def _first(zones: dict[str, tuple[Zone, Polygon]], zone_type: str) -> tuple[Zone, Polygon] | None:
    for zone, geom in zones.values():
        if zone.zone_type == zone_type:
            return zone, geom
    return None


def _rect(cx: float, cy: float, w: float, h: float) -> Polygon:
    return box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _band(poly: Polygon, width: float) -> Polygon | MultiPolygon:
    """The band of ``width`` metres just inside the outline of ``poly``."""
    inner = poly.buffer(-width, join_style="mitre")
    return _areal(poly.difference(inner))


def _areal(geom: shapely.Geometry) -> Polygon | MultiPolygon:
    """``geom`` as a Polygon or MultiPolygon (lines and points of an intersection dropped)."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    return MultiPolygon([g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)])


def _as_polygon(geom: shapely.Geometry) -> Polygon:
    if isinstance(geom, Polygon):
        return geom
    if isinstance(geom, MultiPolygon):
        return max(geom.geoms, key=lambda g: g.area)
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    return max(polys, key=lambda g: g.area) if polys else Polygon()


def _plan_camp(lay: _Layout, zones: dict[str, tuple[Zone, Polygon]]) -> None:
    """Perimeter, roads, yards, admin and industry buildings, fence and guard posts."""
    rng = lay.rng
    perim = _first(zones, "perimeter")
    if perim is None:
        return
    pzone, p1 = perim
    minx, miny, maxx, maxy = p1.bounds
    inset = 36.0
    p0 = _as_polygon(p1.intersection(box(minx - 1, miny - 1, maxx - inset, maxy + 1)))
    cx = (minx + maxx - inset) / 2.0
    # the camp's inside: grass, with a public road to the south and internal roads
    lay.paint(p0, "grass")
    for zone, geom in zones.values():
        if zone.zone_type in ("housing", "administration", "industry"):
            lay.paint(geom.buffer(-2.0, join_style="mitre"), "yard")
    road_w = 6.0
    lay.road(box(minx - 400, miny - 48, maxx + 400, miny - 41))
    lay.road(box(cx - road_w / 2, miny - 45, cx + road_w / 2, maxy))
    ymid = (miny + maxy) / 2.0 - 20.0
    lay.road(box(minx, ymid - road_w / 2, maxx - inset, ymid + road_w / 2))
    quarry = _first(zones, "quarry")
    if quarry is not None:  # access road: north out of the camp, then east to the quarry
        qminx, qminy, _, _ = quarry[1].bounds
        rx = cx + 140.0
        lay.road(box(rx - 3, ymid, rx + 3, qminy + 40))
        lay.road(box(rx - 3, qminy + 34, qminx + 20, qminy + 40))
    # buildings present from the start in the administration and industry zones
    for zone, geom in zones.values():
        if zone.zone_type == "administration":
            _fill_buildings(lay, geom, (18, 30), (30, 55), ("roof_red", "roof_grey"), 6.0, 3)
        elif zone.zone_type == "industry":
            _fill_buildings(
                lay, geom, (20, 32), (40, 70), ("roof_bright", "roof_blue", "roof_dark"), 8.0, 4
            )
    # cleared strip and fence; the east side later moves out to the zone edge
    strip0 = _band(p0, STRIP_WIDTH_M)
    lay.paint(strip0, "fresh_soil")
    fence0 = p0.buffer(-STRIP_WIDTH_M / 2, join_style="mitre").exterior.buffer(
        0.6, cap_style="flat", join_style="mitre"
    )
    lay.paint(fence0, "fence", height_m=3.0)
    strip1 = _band(p1, STRIP_WIDTH_M)
    new_strip = _as_polygon(strip1.difference(strip0))
    key = "perimeter"
    lay.features.append(Feature(new_strip, lay.surface("fresh_soil"), appears=key))
    ring1 = p1.buffer(-STRIP_WIDTH_M / 2, join_style="mitre").exterior
    fence1 = _areal(
        ring1.buffer(0.6, cap_style="flat", join_style="mitre").intersection(
            box(maxx - inset, miny - 1, maxx + 1, maxy + 1)
        )
    )
    lay.features.append(Feature(fence1, lay.surface("fence"), height_m=3.0, appears=key))
    lay.events.append(PlannedEvent(key, "perimeter_extended", pzone, new_strip, 0.30))
    # guard posts: the western ones stand from the start, the eastern ones come later
    east_posts = 0
    for zone, geom in zones.values():
        if zone.zone_type != "guard_post":
            continue
        gx, gy = geom.centroid.x, geom.centroid.y
        side = float(rng.uniform(7.0, 10.0))
        post = _rect(gx + float(rng.uniform(-4, 4)), gy + float(rng.uniform(-4, 4)), side, side)
        if gx > (minx + maxx) / 2.0:
            gkey = f"guard-{zone.id}"
            when = (0.37, 0.63)[min(east_posts, 1)]
            east_posts += 1
            lay.features.append(Feature(post, lay.surface("roof_grey"), 8.0, appears=gkey))
            lay.events.append(PlannedEvent(gkey, "guard_post_added", zone, post, when))
        else:
            lay.paint(post, "roof_grey", height_m=8.0)


def _fill_buildings(
    lay: _Layout,
    zone: Polygon,
    depth: tuple[float, float],
    length: tuple[float, float],
    roofs: tuple[str, ...],
    height: float,
    count: int,
) -> None:
    """Place up to ``count`` non-overlapping E-W buildings inside ``zone``."""
    rng = lay.rng
    inner = zone.buffer(-8.0, join_style="mitre")
    placed: list[Polygon] = []
    minx, miny, maxx, maxy = inner.bounds
    for _ in range(40 * count):
        if len(placed) >= count:
            break
        w = float(rng.uniform(*length))
        d = float(rng.uniform(*depth))
        cand = _rect(float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy)), w, d)
        if (
            inner.contains(cand)
            and lay.clear_of_roads(cand)
            and all(cand.distance(p) > 10.0 for p in placed)
        ):
            placed.append(cand)
            lay.paint(cand, roofs[int(rng.integers(len(roofs)))], height_m=height)


def _plan_housing(lay: _Layout, zones: dict[str, tuple[Zone, Polygon]]) -> None:
    """Rows of barracks; some built during the archive, some demolished."""
    rng = lay.rng
    housing = _first(zones, "housing")
    if housing is None:
        return
    zone, geom = housing
    minx, miny, maxx, maxy = geom.bounds
    inner = geom.buffer(-4.0, join_style="mitre")
    slots: list[Polygon] = []
    pitch_x, pitch_y = 80.0, 32.0
    for j in range(int((maxy - miny - 16) // pitch_y)):
        for i in range(int((maxx - minx - 16) // pitch_x)):
            length = round(float(rng.uniform(30.0, 60.0)), 1)
            depth = round(float(rng.uniform(10.0, 15.0)), 1)
            x0 = minx + 10 + i * pitch_x + float(rng.uniform(0, pitch_x - 14 - length))
            y0 = maxy - 10 - j * pitch_y - depth
            cand = box(x0, y0, x0 + length, y0 + depth)
            if inner.contains(cand) and lay.clear_of_roads(cand):
                slots.append(cand)
    order = rng.permutation(len(slots))
    built = [int(k) for k in order[:5]]
    demolished = [int(k) for k in order[5:7]]
    empty = {int(k) for k in order[7:]}
    if len(slots) > 12:  # leave some slots empty for realism
        empty = set(list(empty)[: max(0, len(slots) - 19)])
    built_when = (0.08, 0.22, 0.50, 0.70, 0.92)
    demolished_when = (0.44, 0.78)
    for n, k in enumerate(built):
        key = f"built-{n}"
        roof = lay.roof()
        lay.features.append(Feature(slots[k], lay.surface(roof), 4.0, appears=key))
        lay.events.append(PlannedEvent(key, "structure_built", zone, slots[k], built_when[n]))
    for n, k in enumerate(demolished):
        key = f"demolished-{n}"
        lay.features.append(Feature(slots[k], lay.surface("rubble"), appears=key))
        lay.features.append(Feature(slots[k], lay.surface(lay.roof()), 4.0, disappears=key))
        lay.events.append(
            PlannedEvent(key, "structure_demolished", zone, slots[k], demolished_when[n])
        )
    for k in range(len(slots)):
        if k not in built and k not in demolished and k not in empty:
            lay.paint(slots[k], lay.roof(), height_m=4.0)


def _plan_fields(lay: _Layout, zones: dict[str, tuple[Zone, Polygon]]) -> None:
    """Agricultural parcels with their own sowing dates (seasonal nuisance, not events)."""
    rng = lay.rng
    for zone, geom in zones.values():
        if zone.zone_type != "agriculture":
            continue
        minx, miny, maxx, maxy = geom.bounds
        lay.paint(geom, "grass")
        rows = max(1, int((maxy - miny) // 90))
        row_h = (maxy - miny) / rows
        for r in range(rows):
            x = minx
            while x < maxx - 10:
                w = float(rng.uniform(40.0, 95.0))
                parcel = box(
                    x + 1.5,
                    miny + r * row_h + 1.5,
                    min(x + w, maxx) - 1.5,
                    miny + (r + 1) * row_h - 1.5,
                ).intersection(geom)
                x += w
                material = "paddy" if rng.random() < 0.4 else "crop"
                label = lay.surface(
                    material,
                    own=True,
                    phase=float(rng.uniform(-15, 15)),
                    vigour=float(rng.uniform(0.7, 1.0)),
                )
                if not parcel.is_empty:
                    lay.features.append(Feature(_as_polygon(parcel), label))


def _plan_quarry(lay: _Layout, zones: dict[str, tuple[Zone, Polygon]]) -> None:
    """Exposed rock that grows in three steps away from the camp."""
    quarry = _first(zones, "quarry")
    if quarry is None:
        return
    zone, geom = quarry
    inner = geom.buffer(-6.0, join_style="mitre")
    minx, miny, maxx, maxy = inner.bounds
    w, h = maxx - minx, maxy - miny
    fractions = (0.35, 0.55, 0.75, 0.97)
    when = (0.15, 0.57, 0.85)
    previous: Polygon | None = None
    for step, f in enumerate(fractions):
        jag = LineString([(minx + f * w, miny), (minx + f * w * 0.9, maxy - (1 - f) * h * 0.6)])
        pit = _as_polygon(
            box(minx, miny, minx + f * w, miny + (0.3 + 0.7 * f) * h)
            .union(jag.buffer(6.0))
            .intersection(inner)
        )
        if previous is None:
            lay.paint(pit, "rock")
        else:
            key = f"quarry-{step}"
            lay.features.append(Feature(pit, lay.surface("rock"), appears=key))
            grown = _as_polygon(pit.difference(previous))
            lay.events.append(PlannedEvent(key, "quarry_growth", zone, grown, when[step - 1]))
        previous = pit if previous is None else _as_polygon(pit.union(previous))


def plan_scene(facility: Facility, params: SimulationParams) -> Scene:
    """Lay out the simulated ground and its events for ``facility``.

    The layout is planned over the whole facility grid from ``params.seed`` alone, so a
    cropped scene (``size_m``) shows the same ground; events outside the crop are dropped.

    Raises:
        SimulationError: when the facility has no zones to build a scene from.

    Example:
        >>> from facilities.load import load_facility_by_id
        >>> scene = plan_scene(load_facility_by_id("kangdong-kyohwaso-4"), SimulationParams())
        >>> len(scene.events), len(scene.observable)
        (13, 13)
    """
    if not facility.zones:
        raise SimulationError(
            f"facility {facility.id!r} has no zones: the simulation lays its scene out from "
            "the zones (perimeter, housing, guard_post, agriculture, quarry, ...)"
        )
    grid = scene_grid(facility, params)
    rng = np.random.default_rng([params.seed, 7919])
    zones = _zones(facility, grid.crs)
    lay = _Layout(rng)
    _plan_fields(lay, zones)
    _plan_camp(lay, zones)
    _plan_quarry(lay, zones)
    _plan_housing(lay, zones)
    keep = grid.polygon().buffer(-SCENE_MARGIN_M, join_style="mitre")
    observable = frozenset(e.key for e in lay.events if keep.contains(e.geometry))
    rp = facility.reported_point
    return Scene(
        grid,
        tuple(lay.surfaces),
        tuple(lay.features),
        tuple(lay.events),
        observable,
        rp.lon,
        rp.lat,
        params.seed,
    )
