"""The learned change method: the shipped ONNX model, its features and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from pipeline.change import learned
from pipeline.change.detect import ChangeParams, detect_change
from pipeline.errors import ChangeInputError
from tests.pipeline.change.conftest import texture

SQUARE = (slice(40, 56), slice(60, 76))


def test_shipped_model_loads_and_runs_in_onnxruntime() -> None:
    import onnxruntime

    assert learned.DEFAULT_MODEL.is_file()
    assert learned.DEFAULT_MODEL.stat().st_size < 1_000_000
    session = onnxruntime.InferenceSession(str(learned.DEFAULT_MODEL),
                                           providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape[1] == len(learned.FEATURES)
    x = np.zeros((5, len(learned.FEATURES)), np.float32)
    (prob,) = session.run(None, {inp.name: x})
    assert prob.shape == (5,)
    assert np.all((prob >= 0) & (prob <= 1))


def test_planted_square_is_found(scene: tuple[np.ndarray, np.ndarray]) -> None:
    before, after = scene
    r = detect_change(before, after, ChangeParams(method="learned"))
    truth = np.zeros(r.mask.shape, bool)
    truth[SQUARE] = True
    pred = r.mask == 1
    recall = (pred & truth).sum() / truth.sum()
    precision = (pred & truth).sum() / max(pred.sum(), 1)
    assert recall > 0.7, recall
    assert precision > 0.5, precision
    assert r.method == "learned"
    assert r.mask.dtype == np.uint8 and r.score.dtype == np.float32
    assert set(learned.REFERENCE_KEYS) <= set(r.detector_thresholds)


def test_nuisance_only_pair_stays_quiet() -> None:
    rng = np.random.default_rng(2)
    before = texture((4, 128, 128), seed=5)
    gains = np.array([0.8, 0.75, 0.85, 0.9], np.float32)[:, None, None]
    after = before * gains + 30 + rng.normal(0, 4, before.shape).astype(np.float32)
    r = detect_change(before, after, ChangeParams(method="learned"))
    assert (r.mask == 1).mean() < 0.01


def test_nodata_is_kept_and_scores_are_probabilities(scene: tuple[np.ndarray, np.ndarray]
                                                    ) -> None:
    before, after = scene
    after = after.copy()
    after[:, :10, :] = np.nan
    r = detect_change(before, after, ChangeParams(method="learned", coregister=False))
    assert (r.mask[:10] == 255).all()
    assert np.isnan(r.score[:10]).all()
    finite = r.score[np.isfinite(r.score)]
    assert finite.min() >= 0 and finite.max() <= 1


def test_large_image_is_processed_in_blocks() -> None:
    """Images larger than a block are processed in blocks with shared reference levels; a
    change straddling a block edge (1024) is found on both sides of it."""
    rng = np.random.default_rng(4)
    before = texture((2, 1300, 1200), seed=6)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 1000:1040, 600:650] = texture((2, 40, 50), seed=9, sigma=0.7) + 600
    r = detect_change(before, after, ChangeParams(method="learned", coregister=False))
    assert r.mask.shape == (1300, 1200)
    assert (r.mask[1005:1024, 605:645] == 1).mean() > 0.7
    assert (r.mask[1024:1035, 605:645] == 1).mean() > 0.7
    assert (r.mask == 1).mean() < 0.01
    assert set(learned.REFERENCE_KEYS) <= set(r.detector_thresholds)


def test_missing_model_is_a_clear_error(scene: tuple[np.ndarray, np.ndarray],
                                        tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ChangeInputError, match=r"change model .*nope\.onnx: cannot be read"):
        detect_change(*scene, ChangeParams(method="learned", model_path=missing))


def test_invalid_model_is_a_clear_error(scene: tuple[np.ndarray, np.ndarray],
                                        tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ChangeInputError, match=r"change model .*bad\.onnx: not a valid ONNX"):
        detect_change(*scene, ChangeParams(method="learned", model_path=bad))


def test_model_with_other_inputs_is_refused(scene: tuple[np.ndarray, np.ndarray],
                                            tmp_path: Path) -> None:
    import onnx  # a dev dependency (the training extra writes ONNX graphs too)
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "three.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ChangeInputError, match=r"three\.onnx: input must be one \(N, 14\)"):
        detect_change(*scene, ChangeParams(method="learned", model_path=path))


def test_bad_input_is_a_clear_error() -> None:
    b = np.zeros((3, 8, 8), np.float32)
    with pytest.raises(ChangeInputError, match="band counts differ: BEFORE has 3, AFTER has 2"):
        detect_change(b, b[:2], ChangeParams(method="learned"))
    with pytest.raises(ChangeInputError, match="BEFORE is constant"):
        detect_change(b, b + 1, ChangeParams(method="learned"))


def _write(path: Path, data: np.ndarray) -> None:
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
               "count": data.shape[0], "dtype": "float32", "crs": "EPSG:32652",
               "transform": Affine(2.0, 0, 300000, 0, -2.0, 4400000)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def test_cli_change_runs_the_learned_method_with_a_model(
    scene: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    from pipeline.cli.main import main

    before, after = scene
    _write(tmp_path / "b.tif", before)
    _write(tmp_path / "a.tif", after)
    out = tmp_path / "mask.tif"
    args = [
        "change", str(tmp_path / "b.tif"), str(tmp_path / "a.tif"), "-o", str(out),
        "--method", "learned", "--model", str(learned.DEFAULT_MODEL),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as src:
        mask = src.read(1)
    assert (mask[SQUARE] == 1).mean() > 0.7
    missing = tmp_path / "none.onnx"
    res = CliRunner().invoke(main, [*args[:-1], str(missing), "--overwrite"])
    assert res.exit_code != 0
    assert "none.onnx" in res.output


@pytest.mark.slow
def test_run_facility_with_the_learned_method(demo_workspace: Path, tmp_path: Path) -> None:
    """`campwatch run --method learned`: the tiled path hands each tile to the learned
    method (it has no classical statistics) and the run completes with change objects."""
    from pipeline.run import run_facility
    from tests.pipeline.report.conftest import copy_demo

    copy = copy_demo(demo_workspace, tmp_path / "ws")
    summary = run_facility(copy.facility, copy.ws, copy.grid,
                           params=ChangeParams(method="learned"))
    assert summary.pairs
    assert summary.changes > 0
