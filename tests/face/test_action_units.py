"""Action units from landmark geometry, on real (warped) astronaut frames, plus the OpenFace importer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_samples import closed_eyes, mouth_series

from emogs.face.action_units import (
    AU_NAMES,
    AUBaseline,
    au_geometry_features,
    estimate_aus,
    estimate_aus_single,
    fit_au_baseline,
    fit_person_baseline,
    read_openface_csv,
)


def _rot(yaw: float, roll: float) -> np.ndarray:
    a, b = math.radians(yaw), math.radians(roll)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rz = np.array([[math.cos(b), -math.sin(b), 0], [math.sin(b), math.cos(b), 0], [0, 0, 1]])
    return rz @ ry


@pytest.fixture(scope="module")
def sequence():
    """A 'video': the neutral astronaut (jittered) for 20 frames, then mouth opened 6 / 12 px,
    then the eyes closed."""
    _, pts = mouth_series()
    _, eyes = closed_eyes()
    rng = np.random.default_rng(0)
    neutral = [pts[0] + rng.normal(0, 0.15, pts[0].shape) for _ in range(20)]
    return np.stack(neutral + [pts[1], pts[2], eyes]).astype(np.float32)


def test_mouth_opening_raises_au25_au26_and_blink_raises_au45(sequence):
    aus = estimate_aus(sequence)
    assert aus.shape == (23, len(AU_NAMES)) and aus.dtype == np.float32
    assert aus.min() >= 0 and aus.max() <= 5
    i25, i26, i45 = AU_NAMES.index("AU25"), AU_NAMES.index("AU26"), AU_NAMES.index("AU45")
    neutral = aus[:20]
    assert neutral[:, i25].max() < 0.5 and neutral[:, i45].max() < 0.5
    assert aus[21, i25] > aus[20, i25] > neutral[:, i25].max() + 0.5
    assert aus[21, i26] > aus[20, i26] > neutral[:, i26].max()
    assert aus[21, i25] > 1.5  # a ~9 px opening on a ~95 px face is a clear lips-part
    assert aus[22, i45] > 3.0 and aus[20:22, i45].max() < 1.0


def test_features_are_pose_and_scale_invariant(sequence):
    p = sequence[0].astype(np.float64)
    c = p.mean(0)
    moved = (p - c) @ _rot(25, 10).T * 1.7 + c + np.array([40.0, -12.0, 5.0])
    np.testing.assert_allclose(au_geometry_features(moved), au_geometry_features(p), atol=2e-4)


def test_w2c_undoes_head_rotation(sequence):
    p = sequence[:3].astype(np.float64)
    r = _rot(-20, 5)
    rotated = p @ r.T  # camera-space points of a head rotated by r
    w2c = np.tile(np.eye(4), (3, 1, 1))
    w2c[:, :3, :3] = r
    f_rot = au_geometry_features(rotated, w2c)
    f_ref = au_geometry_features(p, np.tile(np.eye(4), (3, 1, 1)))
    np.testing.assert_allclose(f_rot, f_ref, atol=2e-4)
    aus = estimate_aus(rotated, w2c)
    assert aus.shape == (3, 11)


def test_single_frame_with_stored_baseline_matches_sequence(sequence):
    feats = au_geometry_features(sequence)
    base = fit_au_baseline(feats)
    stored = AUBaseline.from_dict(base.to_dict())  # e.g. kept in the manifest
    np.testing.assert_allclose(fit_person_baseline(sequence).neutral, base.neutral)
    seq = estimate_aus(sequence, baseline=base)
    for t in (0, 21, 22):
        np.testing.assert_allclose(estimate_aus_single(sequence[t], stored), seq[t], atol=1e-5)
        np.testing.assert_allclose(estimate_aus_single(sequence[t], base.to_dict()), seq[t], atol=1e-5)
    sub = estimate_aus(sequence, names=["AU45", "AU25"])
    np.testing.assert_allclose(sub, seq[:, [10, 8]], atol=1e-6)


def test_a_degenerate_frame_gets_zero_aus_not_an_error(sequence):
    seq = sequence.copy()
    seq[3] = 0.0  # e.g. a frame without a face that was not interpolated
    aus = estimate_aus(seq)
    assert np.isfinite(aus).all() and (aus[3] == 0).all()
    np.testing.assert_allclose(aus[21:], estimate_aus(sequence)[21:], atol=0.05)


def test_bad_inputs(sequence):
    with pytest.raises(ValueError, match="478"):
        au_geometry_features(np.zeros((5, 10, 3)))
    with pytest.raises(ValueError, match="unknown AU"):
        estimate_aus(sequence, names=["AU99"])
    with pytest.raises(ValueError, match="w2c"):
        estimate_aus(sequence, w2c=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="eye corners"):
        au_geometry_features(np.zeros((478, 3)))
    with pytest.raises(ValueError, match="baseline"):
        AUBaseline.from_dict({"neutral": [0.0, 1.0]})


def _write_openface(path, n_rows: int, fps: float, aus: np.ndarray, success=None) -> None:
    names = ["AU01", "AU02", "AU04", "AU45"]
    header = ["frame", " face_id", " timestamp", " confidence", " success"]
    header += [f" {n}_r" for n in names] + [f" {n}_c" for n in names]
    lines = [",".join(header)]
    for k in range(n_rows):
        ok = 1 if success is None else success[k]
        vals = [k + 1, 0, round(k / fps, 3), 0.98, ok] + list(aus[k]) + [1.0] * 4
        lines.append(", ".join(str(v) for v in vals))
    path.write_text("\n".join(lines) + "\n")


def test_read_openface_csv_aligns_by_time(tmp_path):
    rng = np.random.default_rng(1)
    aus = rng.uniform(0, 5, size=(60, 4)).round(2)
    _write_openface(tmp_path / "a.csv", 60, 30.0, aus)  # 2 s at 30 fps
    out, names = read_openface_csv(tmp_path / "a.csv", 50, 25.0)  # the dataset is 25 fps
    assert names == ["AU01", "AU02", "AU04", "AU45"] and out.shape == (50, 4)
    # frame t (t / 25 s) takes the CSV row nearest in time
    for t in (0, 7, 31, 49):
        k = int(np.argmin(np.abs(np.arange(60) / 30.0 - t / 25.0)))
        np.testing.assert_allclose(out[t], aus[k], atol=1e-6)
    # failed rows are replaced by the nearest successful one
    succ = np.ones(60, int)
    succ[10] = 0
    _write_openface(tmp_path / "b.csv", 60, 30.0, aus, succ)
    same, _ = read_openface_csv(tmp_path / "b.csv", 60, 30.0)
    assert not np.allclose(same[10], aus[10]) and (
        np.allclose(same[10], aus[9]) or np.allclose(same[10], aus[11])
    )


def test_read_openface_csv_errors(tmp_path):
    aus = np.zeros((40, 4))
    _write_openface(tmp_path / "short.csv", 40, 25.0, aus)
    with pytest.raises(ValueError, match="off by -10"):
        read_openface_csv(tmp_path / "short.csv", 50, 25.0)
    (tmp_path / "x.csv").write_text("frame, timestamp, gaze_0_x\n1, 0.0, 0.1\n")
    with pytest.raises(ValueError, match="AUxx_r"):
        read_openface_csv(tmp_path / "x.csv", 1, 25.0)
    with pytest.raises(FileNotFoundError):
        read_openface_csv(tmp_path / "missing.csv", 1, 25.0)


def test_read_openface_csv_tolerates_one_missing_row(tmp_path):
    aus = np.arange(49 * 4, dtype=float).reshape(49, 4)
    _write_openface(tmp_path / "c.csv", 49, 25.0, aus)
    out, _ = read_openface_csv(tmp_path / "c.csv", 50, 25.0)
    assert out.shape == (50, 4)
    np.testing.assert_allclose(out[:49], aus)
    np.testing.assert_allclose(out[49], aus[48])  # the last row repeats
