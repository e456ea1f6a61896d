"""Shared type aliases of the ``imagery`` package (the enumerations the catalogue stores)."""

from __future__ import annotations

from typing import Literal, get_args

ChangeType = Literal[
    "new_or_brighter", "removed_or_darker", "vegetation_gain", "vegetation_loss", "earthworks"
]
"""What a change object looks like (not what it means: that is the analyst's call)."""

CHANGE_TYPES: tuple[str, ...] = get_args(ChangeType)

ConfidenceLabel = Literal["low", "medium", "high"]
"""A change object's confidence, in words."""

Series = Literal["vhr", "medium"]
"""A capture series: ``"vhr"`` (GSD of 5 m or finer) or ``"medium"``; pairs never mix them."""

LandCover = Literal[
    "vegetation_cleared", "vegetation_grown", "bare_or_excavated", "water", "surface_changed",
    "vegetated_both", "not_measured",
]
"""What an event did to the ground, measured from its two captures (NDVI, NDWI, brightness)."""

EventStatus = Literal["confirmed", "unconfirmed"]
"""Whether a later usable capture still shows an event (``"confirmed"``) or none has yet."""

ReviewDecision = Literal["accepted", "rejected", "needs_vhr"]
"""An analyst's decision on a change object."""

REVIEW_DECISIONS: tuple[str, ...] = get_args(ReviewDecision)

ReviewStatus = Literal["pending", "accepted", "rejected", "needs_vhr"]
"""The decision in force on an event: ``"pending"`` until an analyst decides."""

MaskMethod = Literal["model", "rules", "analyst", "scl", "qa_pixel"]
"""How a capture's clear-sky mask was made: the trained cloud model, the brightness rules,
an analyst's raster, or the provider's quality band (Sentinel-2 SCL, Landsat QA_PIXEL)."""
