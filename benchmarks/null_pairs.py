"""Null pairs: how much change is claimed where nothing changed.

Usage::

    .venv/bin/python benchmarks/null_pairs.py                 # default and CVA+Otsu
    .venv/bin/python benchmarks/null_pairs.py --methods default,cva

Each real shared image (read in place from ``../shared/data``; nothing is copied) is compared
with a copy of itself that differs only by a nuisance:

- ``shift1``: AFTER is BEFORE moved by 1 px (columns), both cropped to the overlap;
- ``blur1``: a Gaussian blur of sigma 1 px;
- ``gamma0.8``: gamma 0.8 on the image's own 0..max range;
- ``gain0.8cast``: gain 0.8 with a colour cast (per-band gains 0.72..0.88, offsets);
- ``noise2``: Gaussian noise with sigma 2 % of the image's range (fixed seed);

plus the real Sentinel-2 pair ten days apart with nothing changed (eo-learn TestEOPatch,
2015-08-30 against 2015-09-09, both cloud-free by s2cloudless).

For every method it prints the fraction of valid pixels flagged per pair, its median and 95th
percentile over all pairs, and change objects (after the minimum mapping unit of 100 m²) per
km². Goal (issue #11): median <= 0.5 %, p95 <= 2 %, <= 0.1 events per km².
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from accuracy import OSCD_BANDS, _band_file, baseline  # noqa: E402

from pipeline.change.detect import ChangeParams, ChangeResult, detect_change  # noqa: E402
from pipeline.change.objects import clean_mask  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


@dataclass(frozen=True)
class Image:
    """One real image a null pair is made from."""

    name: str
    data: np.ndarray
    """float32 (bands, H, W)."""
    pixel_size_m: float
    """Ground pixel size (known from the data set's provenance)."""


@dataclass(frozen=True)
class NullPair:
    """Two images of the same scene with nothing changed."""

    name: str
    before: np.ndarray
    after: np.ndarray
    pixel_size_m: float


def _png(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read().astype(np.float32)


def images() -> list[Image]:
    """Real single-date images from every shared data set that is present."""
    out: list[Image] = []
    for stem in ("train_36_0512_0512", "val_27_0000_0256"):
        path = SHARED / "levir_cd" / "A" / f"{stem}.png"
        if path.exists():
            out.append(Image(f"levir:{stem}", _png(path), 0.5))
    for stem in ("hurricane-harvey_00000000_0512_0512", "hurricane-harvey_00000006_0000_0000"):
        path = SHARED / "xbd" / "A" / f"{stem}.png"
        if path.exists():
            out.append(Image(f"xbd:{stem}", _png(path), 0.5))
    for stem in ("2021_ALBANIA_18", "2021_GUYANA_1"):
        path = SHARED / "ombria" / "s2" / "A" / f"{stem}.png"
        if path.exists():
            out.append(Image(f"ombria:{stem}", _png(path), 10.0))
    for city in ("bercy", "hongkong"):
        folder = SHARED / "oscd" / city / "imgs_1"
        if folder.is_dir():
            bands = []
            for band in OSCD_BANDS:
                with rasterio.open(_band_file(folder, band)) as src:
                    bands.append(src.read(1).astype(np.float32))
            out.append(Image(f"oscd:{city}", np.stack(bands), 10.0))
    path = SHARED / "spacenet4_atlanta_sample" / "sample_geotiff.tif"
    if path.exists():
        with rasterio.open(path) as src:
            data = src.read().astype(np.float32)
        data[data == 0] = np.nan
        out.append(Image("spacenet4:atlanta-pan", data, 0.5))
    return out


def nuisances(img: Image) -> list[NullPair]:
    """The five nuisance-only copies of one image."""
    x = img.data
    finite = np.isfinite(x)
    hi = float(np.nanmax(x))
    lo = float(np.nanmin(x))
    nb = x.shape[0]
    rng = np.random.default_rng(0)
    gains = np.linspace(0.72, 0.88, nb, dtype=np.float32)[:, None, None]
    offsets = np.linspace(0.02, -0.02, nb, dtype=np.float32)[:, None, None] * (hi - lo)
    blur = ndimage.gaussian_filter(np.nan_to_num(x), (0, 1.0, 1.0))
    blur[~finite] = np.nan
    pairs = [
        NullPair("shift1", x[:, :, :-1], x[:, :, 1:], img.pixel_size_m),
        NullPair("blur1", x, blur, img.pixel_size_m),
        NullPair("gamma0.8", x, hi * np.clip(x / hi, 0, None) ** 0.8, img.pixel_size_m),
        NullPair("gain0.8cast", x, x * gains + offsets, img.pixel_size_m),
        NullPair("noise2", x, x + rng.normal(0, 0.02 * (hi - lo), x.shape).astype(np.float32),
                 img.pixel_size_m),
    ]
    return [NullPair(f"{img.name}/{p.name}", p.before, p.after, p.pixel_size_m) for p in pairs]


def eolearn_pairs() -> list[NullPair]:
    """The real ten-day Sentinel-2 pair with nothing changed (B02 B03 B04 B08)."""
    path = SHARED / "eolearn_testeopatch" / "REFERENCE_SCENES.npy"
    if not path.exists():
        return []
    scenes = np.load(path)  # (5, 101, 100, 13); index 3 = 2015-08-30, 2 = 2015-09-09
    bands = [1, 2, 3, 7]
    before = np.moveaxis(scenes[3][:, :, bands], -1, 0).astype(np.float32)
    after = np.moveaxis(scenes[2][:, :, bands], -1, 0).astype(np.float32)
    return [NullPair("eolearn:2015-08-30/2015-09-09", before, after, 10.0)]


def run_default(name: str) -> Callable[[NullPair], np.ndarray]:
    """A campwatch method as a null pair -> uint8 mask function."""

    def run(pair: NullPair) -> np.ndarray:
        params = ChangeParams(method=name, pixel_size_m=pair.pixel_size_m)
        result: ChangeResult = detect_change(pair.before, pair.after, params)
        return result.mask

    return run


def run_baseline(pair: NullPair) -> np.ndarray:
    """CVA+Otsu on raw values, as in benchmarks/accuracy.py."""
    from accuracy import Pair

    p = Pair(pair.name, pair.before, pair.after, np.zeros(pair.before.shape[1:], bool),
             pair.pixel_size_m, None)
    ok = np.isfinite(pair.before).all(0) & np.isfinite(pair.after).all(0)
    change = baseline("cva")(p)
    return np.where(ok, change.astype(np.uint8), np.uint8(255)).astype(np.uint8)


def events(mask: np.ndarray, pixel_size_m: float) -> int:
    """Change objects after the default minimum mapping unit (100 m²)."""
    clean = clean_mask(mask, ChangeParams(pixel_size_m=pixel_size_m))
    return int(ndimage.label(clean, structure=ndimage.generate_binary_structure(2, 1))[1])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="default")
    parser.add_argument("--quiet", action="store_true", help="summary lines only")
    args = parser.parse_args(argv)
    pairs = [p for img in images() for p in nuisances(img)] + eolearn_pairs()
    methods: dict[str, Callable[[NullPair], np.ndarray]] = {"cva+otsu": run_baseline}
    for name in args.methods.split(","):
        methods[name] = run_default(name)
    print(f"{len(pairs)} null pairs")
    for mname, fn in methods.items():
        fractions, n_events, km2, seconds = [], 0, 0.0, 0.0
        by_kind: dict[str, list[float]] = {}
        for pair in pairs:
            t0 = time.process_time()
            mask = fn(pair)
            seconds += time.process_time() - t0
            valid = mask != 255
            frac = float((mask == 1).sum() / max(int(valid.sum()), 1))
            n = events(mask, pair.pixel_size_m)
            area = float(valid.sum()) * pair.pixel_size_m**2 / 1e6
            fractions.append(frac)
            n_events += n
            km2 += area
            kind = pair.name.rsplit("/", 1)[-1] if "eolearn" not in pair.name else "real-10day"
            by_kind.setdefault(kind, []).append(frac)
            if not args.quiet:
                print(f"  {mname:<9} {pair.name:<52} flagged {100 * frac:6.2f} %  "
                      f"events {n:4d} on {area:.3f} km²")
        arr = np.array(fractions)
        kinds = "  ".join(f"{k} {100 * float(np.median(v)):.2f}%" for k, v in by_kind.items())
        print(f"{mname:<9} median {100 * np.median(arr):.2f} %  p95 "
              f"{100 * np.percentile(arr, 95):.2f} %  max {100 * arr.max():.2f} %  "
              f"events/km² {n_events / km2:.3f} ({n_events} on {km2:.2f} km²)  "
              f"cpu {seconds:.1f} s  | median by kind: {kinds}", flush=True)
    print("goal: median <= 0.50 %, p95 <= 2.00 %, events/km² <= 0.1")


if __name__ == "__main__":
    main()
