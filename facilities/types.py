"""Shared type aliases of the ``facilities`` package."""

from __future__ import annotations

from typing import Literal, get_args

ZoneType = Literal[
    "perimeter",
    "housing",
    "administration",
    "guard_post",
    "agriculture",
    "quarry",
    "industry",
    "other",
]
"""The kinds of zone a facility is divided into."""

ZONE_TYPES: tuple[str, ...] = get_args(ZoneType)

FacilityType = Literal["kwanliso", "kyohwaso", "rodong-danryeondae", "jipkyulso", "other"]
"""North Korean detention-facility categories (political prison camp, long-term
re-education camp, labour-training camp, holding centre) plus ``other``."""

FACILITY_TYPES: tuple[str, ...] = get_args(FacilityType)

FacilityStatus = Literal["active", "closed", "reported-closed", "unknown"]
"""What a published source last said of a facility: operating, closed, reported closed (an
announcement or testimony nobody has confirmed), or unknown (no source states it)."""

FACILITY_STATUSES: tuple[str, ...] = get_args(FacilityStatus)

EpsgCode = str
"""A CRS as an authority string such as ``"EPSG:32652"``."""
