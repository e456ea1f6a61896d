"""Clear-sky masks on real Sentinel-2: the old brightness rules against the cloud model.

Usage::

    .venv/bin/python benchmarks/masks.py            # masks on real images, then ingest speed
    .venv/bin/python benchmarks/masks.py --no-speed

Real images are read in place from ``../shared/data`` (nothing is copied): OSCD Bercy and
Hong Kong (L1C, both dates; Hong Kong has reclaimed sand and new-built ground) and the five
eo-learn dates with all 13 bands (Slovenia, 2015; two overcast, three clear), whose
s2cloudless cloud mask (CLM) is the reference. Per image it prints the fraction masked by the
rules (as ingest runs them on a 10 m grid) and by the model (6-band L1C, at 30 m as ingest
runs it, and at 10 m for comparison), the share of bright bare ground (visible mean > 0.15,
NDVI < 0.2; where CLM says clear, on eo-learn) each masks, the share of OSCD's labelled change
each hides (chg R, chg M30), and for eo-learn the pixel agreement with CLM (agree R, agree M)
and the usable verdict (clear >= 60 %) of the rules, the model and CLM.

The speed part ingests a real 10 m Hong Kong crop onto the 2040 x 2040 px Kangdong grid at 1 m
(the demo's grid) once as Sentinel-2 (model) and once as a vendor sensor (rules), and times
the model alone on a 2040 x 2040 px grid at 10 m (a 20 km AOI). Wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from facilities.load import load_facility_by_id  # noqa: E402
from imagery.ingest import ingest_file  # noqa: E402
from imagery.masks.choose import MaskOptions  # noqa: E402
from imagery.masks.model import BANDS_6, cloud_probability, not_clear  # noqa: E402
from imagery.masks.rules import clear_mask  # noqa: E402
from imagery.vendor.metadata import Overrides  # noqa: E402
from imagery.workspace import FacilityWorkspace, workspace_grid  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
OSCD_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
EOLEARN_BANDS = (1, 2, 3, 7, 11, 12)
EOLEARN_DATES = {0: 2, 1: 1, 2: 4, 3: 3, 4: 0}
"""REFERENCE_SCENES index -> timestamps.json index (PROVENANCE.md)."""


@dataclass(frozen=True)
class Image:
    """One real 10 m image with its references."""

    name: str
    refl: np.ndarray
    """float32 (6, H, W): blue, green, red, nir, swir16, swir22 reflectance."""
    reference: np.ndarray | None = None
    """bool (H, W) reference cloud mask (s2cloudless), when the data set has one."""
    change: np.ndarray | None = None
    """bool (H, W) labelled change (OSCD), when on this image's grid."""


def oscd(city: str, which: str) -> Image:
    files = {p.stem[-3:]: p for p in (SHARED / "oscd" / city / which).glob("*.tif")}
    with rasterio.open(files["B02"]) as src:
        shape = src.shape
    refl = np.stack([
        rasterio.open(files[b]).read(1, out_shape=shape, resampling=Resampling.bilinear)
        for b in OSCD_BANDS
    ]).astype(np.float32) / 10000
    with rasterio.open(SHARED / "oscd" / city / "cm" / f"{city}-cm.tif") as src:
        cm = src.read(1) == 2
    return Image(f"oscd {city} {which}", refl, change=cm if cm.shape == shape else None)


def eolearn() -> list[Image]:
    root = SHARED / "eolearn_testeopatch"
    scenes = np.load(root / "REFERENCE_SCENES.npy")
    clm = np.load(root / "TestEOPatch" / "mask" / "CLM.npy")[..., 0] > 0
    stamps = json.loads((root / "TestEOPatch" / "timestamps.json").read_text())
    return [
        Image(f"eo-learn {stamps[t][:10]}",
              np.moveaxis(scenes[i][..., list(EOLEARN_BANDS)], -1, 0).astype(np.float32),
              reference=clm[t])
        for i, t in sorted(EOLEARN_DATES.items(), key=lambda it: it[1])
    ]


def block_mean(a: np.ndarray, k: int) -> np.ndarray:
    b, h, w = a.shape
    hp, wp = -(-h // k) * k, -(-w // k) * k
    padded = np.pad(a, ((0, 0), (0, hp - h), (0, wp - w)), mode="edge")
    return padded.reshape(b, hp // k, k, wp // k, k).mean(axis=(2, 4)).astype(np.float32)


def model_mask(refl: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Not-clear mask of the 6-band L1C model run at 10 m x k, on the 10 m grid; seconds."""
    t = time.perf_counter()
    prob, _ = cloud_probability(block_mean(refl, k), BANDS_6, "l1c")
    cloudy = not_clear(prob)
    out = np.repeat(np.repeat(cloudy, k, axis=0), k, axis=1)[: refl.shape[1], : refl.shape[2]]
    return out, time.perf_counter() - t


def pct(x: float) -> str:
    return f"{100 * x:5.1f} %"


def masks() -> None:
    images = [oscd(c, w) for c in ("bercy", "hongkong") for w in ("imgs_1", "imgs_2")]
    images += eolearn()
    print("fraction of each image masked (not clear); bright = bright bare ground, "
          "change = OSCD labelled change hidden")
    print(f"{'image':26} {'rules':>7} {'model30':>7} {'model10':>7} | {'bright n':>8} "
          f"{'rules':>7} {'model30':>7} | {'chg R':>7} {'chg M30':>7} | "
          f"{'CLM':>7} {'agree R':>7} {'agree M':>7} usable R/M/CLM | s")
    for im in images:
        rules = ~clear_mask(im.refl[:4], 10.0)
        m30, secs = model_mask(im.refl, 3)
        m10, _ = model_mask(im.refl, 1)
        vis = im.refl[:3].mean(axis=0)
        ndvi = (im.refl[3] - im.refl[2]) / np.maximum(im.refl[3] + im.refl[2], 1e-6)
        bright = (vis > 0.15) & (ndvi < 0.2)
        if im.reference is not None:
            bright &= ~im.reference  # bright ground, not the clouds s2cloudless saw
        nb = int(bright.sum())
        row = (f"{im.name:26} {pct(rules.mean())} {pct(m30.mean())} {pct(m10.mean())} | {nb:8d} "
               f"{pct(rules[bright].mean()) if nb else '    n/a'} "
               f"{pct(m30[bright].mean()) if nb else '    n/a'} | ")
        if im.change is not None and im.change.any():
            row += f"{pct(rules[im.change].mean())} {pct(m30[im.change].mean())} | "
        else:
            row += f"{'n/a':>7} {'n/a':>7} | "
        if im.reference is not None:
            ref = im.reference
            usable = [bool((~m).mean() >= 0.6) for m in (rules, m30, ref)]
            row += (f"{pct(ref.mean())} {pct((rules == ref).mean())} {pct((m30 == ref).mean())} "
                    f"{'/'.join('yes' if u else 'no' for u in usable):>14} | ")
        else:
            row += f"{'n/a':>7} {'n/a':>7} {'n/a':>7} {'':>14} | "
        print(row + f"{secs:.1f}")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def speed() -> None:
    facility = load_facility_by_id("kangdong-kyohwaso-4")
    hk = oscd("hongkong", "imgs_2").refl
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws0 = FacilityWorkspace(root / "probe", facility.id)
        grid10 = workspace_grid(ws0, facility, 10.0)
        src = root / "S2B_MSIL1C_hongkong_crop.tif"
        dn = np.clip(np.rint(hk[:, : grid10.height, : grid10.width] * 10000), 1, 65535)
        with rasterio.open(src, "w", driver="GTiff", width=grid10.width, height=grid10.height,
                           count=6, dtype="uint16", crs=grid10.crs, nodata=0,
                           transform=Affine(10, 0, grid10.west, 0, -10, grid10.north)) as dst:
            dst.write(dn.astype(np.uint16))
            for i, name in enumerate(BANDS_6, start=1):
                dst.set_band_description(i, name)
            dst.update_tags(ACQUISITION_DATETIME="2018-03-23T02:45:39Z", GSD_M="10",
                            CREDIT="Copernicus Sentinel data")
        cloud_probability(np.full((6, 8, 8), 0.05, np.float32), BANDS_6, "l1c")  # load once
        print("\ningest of one real 10 m capture (204 x 204 px) onto the 1 m Kangdong grid")
        for sensor in ("WorldView-2", "Sentinel-2B", "Sentinel-2B"):
            ws = FacilityWorkspace(root / f"ws-{sensor}-{time.time_ns()}", facility.id)
            grid = workspace_grid(ws, facility, 1.0)
            w0, c0 = time.perf_counter(), cpu()
            cap = ingest_file(src, facility, grid, ws, overrides=Overrides(sensor=sensor),
                              masking=MaskOptions())
            assert cap is not None
            print(f"  {sensor:12} grid {grid.width} x {grid.height} px: "
                  f"{time.perf_counter() - w0:5.2f} s wall, {cpu() - c0:5.2f} s CPU; "
                  f"mask {cap.mask_method}, clear {pct(cap.clear_fraction or 0.0)}")
    big = np.tile(block_mean(hk, 3), (1, 2, 2))[:, :680, :680]
    w0, c0 = time.perf_counter(), cpu()
    cloud_probability(big, BANDS_6, "l1c")
    print(f"\nmodel alone on a 2040 x 2040 px 10 m grid (680 x 680 px at 30 m): "
          f"{time.perf_counter() - w0:.1f} s wall, {cpu() - c0:.1f} s CPU")
    print("the demo's simulated captures keep the brightness rules (mask_method 'rules'): "
          "their ingest does not run the model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-speed", action="store_true", help="skip the ingest timings")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the real data in {SHARED}")
    masks()
    if not args.no_speed:
        speed()


if __name__ == "__main__":
    main()
