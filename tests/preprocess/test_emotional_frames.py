"""The emotional-frames stage: the sampling plan and the `emotion/` sub-dataset it writes."""

import json

import numpy as np
import pytest
from face_samples import face_512

from preprocess.emotional_frames import run_emotional_frames_stage, sample_plan


@pytest.fixture(scope="module")
def face():
    return face_512()


def test_sample_plan_covers_circle():
    src, va = sample_plan(100, 12, 3, seed=0, train_range=(0, 90))
    assert src.shape == (36,) and va.shape == (36, 2) and src.max() < 90
    ang = np.degrees(np.arctan2(va[:, 1], va[:, 0])) % 360
    assert len(np.unique(np.round(ang))) == 12
    assert sorted({round(float(r), 2) for r in np.linalg.norm(va, axis=1)}) == [0.45, 0.8]
    src2, va2 = sample_plan(100, 12, 3, seed=0, train_range=(0, 90))
    np.testing.assert_array_equal(src, src2)


def _tiny_dataset(root, crop, pts, t=4, rest_va=(0.0, 0.0)):
    frames = np.stack([np.roll(crop, k, axis=1) for k in range(t)])
    lms = np.stack([pts + [k, 0, 0] for k in range(t)]).astype(np.float32)
    np.save(root / "frames.npy", frames)
    np.save(root / "landmarks.npy", lms)
    k = np.array([[600, 0, 256], [0, 600, 256], [0, 0, 1]], np.float32)
    np.savez(root / "camera.npz", K=k, w2c=np.repeat(np.eye(4, dtype=np.float32)[None], t, 0))
    np.save(root / "valence_arousal.npy", np.tile(np.float32([rest_va]), (t, 1)))  # the real frames' V/A
    (root / "manifest.json").write_text(json.dumps({"split": {"train": [0, 3], "val": [3, 4]}}))


def test_stage_writes_emotion_subdataset(tmp_path, face):
    crop, pts, _ = face
    _tiny_dataset(tmp_path, crop, pts, rest_va=(0.7, 0.3))  # a smiling rest
    calls = []
    info = run_emotional_frames_stage(
        tmp_path,
        num_targets=3,
        frames_per_target=2,
        seed=1,
        progress=lambda i, n: calls.append((i, n)),
        parser=lambda rgb, p: (rgb[..., 0] > 128).astype(np.uint8),
        normal_renderer=lambda p, K: np.full((512, 512, 3), 128, np.uint8),
    )
    e = tmp_path / "emotion"
    m = 6
    assert info["num_frames"] == m and calls[-1] == (m, m)
    fr = np.load(e / "frames.npy", mmap_mode="r")
    assert fr.shape == (m, 512, 512, 3) and fr.dtype == np.uint8
    src = np.load(e / "source_index.npy")
    assert src.dtype == np.int64 and src.shape == (m,) and src.max() < 3
    va = np.load(e / "valence_arousal.npy")
    assert va.dtype == np.float32 and va.shape == (m, 2)
    assert np.load(e / "parsing.npy").shape == (m, 512, 512)
    assert np.load(e / "normals.npy").shape == (m, 512, 512, 3)
    aus = np.load(e / "aus.npy")
    assert aus.dtype == np.float32 and aus.shape == (m, len(info["aus_names"]))
    assert (e / "contact_sheet.png").is_file()
    assert not list(e.glob("*.tmp"))
    assert info["rest_va"] == pytest.approx([0.7, 0.3])  # targets are relative to the real frames' V/A
    # each synthetic frame is its source frame with an emotion: close to it, not equal
    for j in range(m):
        d = np.abs(fr[j].astype(int) - np.load(tmp_path / "frames.npy", mmap_mode="r")[src[j]].astype(int))
        assert 0 < d.mean() < 3


def test_stage_missing_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="frames.npy"):
        run_emotional_frames_stage(tmp_path)


def test_stage_with_default_analysis_functions(tmp_path, face):
    """Integration with the preprocessing analysis stages (FaceParser, FaceNormalRenderer, AUs)."""
    pytest.importorskip("preprocess.parsing")
    pytest.importorskip("preprocess.normals")
    crop, pts, _ = face
    _tiny_dataset(tmp_path, crop, pts, t=3)
    run_emotional_frames_stage(tmp_path, num_targets=2, frames_per_target=1, seed=0)
    e = tmp_path / "emotion"
    parsing = np.load(e / "parsing.npy")
    normals = np.load(e / "normals.npy")
    va = np.load(e / "valence_arousal.npy")
    for j in range(2):
        assert {1, 2, 3, 4} <= set(np.unique(parsing[j]).tolist())  # face, brows, eyes, lips
        assert (normals[j].sum(-1) > 0).mean() > 0.05  # a face worth of normals
    aus = np.load(e / "aus.npy")
    # target 0 is "happy" (0.74, 0.31): the AU estimator sees the raised cheeks (AU06) more than in
    # target 1, a mild "sad" (-0.42, -0.17)
    assert va[0, 0] > 0.7 and va[1, 0] < -0.4 and aus.shape[0] == 2
    au06 = ["AU01", "AU02", "AU04", "AU05", "AU06"].index("AU06")
    assert aus[0, au06] > aus[1, au06] + 0.2, aus
