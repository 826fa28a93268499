import json

import numpy as np
import pytest
import torch

from emogs.data import DatasetError, PersonDataset, decode_normals, encode_normals
from emogs.data.synthetic import write_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), num_frames=22, size=48, audio_dim=8,
                             with_emotion=True)


def test_splits_and_sample_shapes(toy):
    train, val, full = (PersonDataset(toy, s) for s in ("train", "val", "all"))
    assert len(train) + len(val) == len(full) == 22
    assert len(val) == 2 and val.frame_indices[0] == train.frame_indices[-1] + 1
    s = train[5]
    assert s.index == 5
    assert s.image.shape == (48, 48, 3) and s.image.dtype == torch.float32
    assert 0 <= s.image.min() <= s.image.max() <= 1
    assert s.parsing.shape == (48, 48) and s.normals.shape == (48, 48, 3) and s.normal_valid.shape == (48, 48)
    assert s.w2c.shape == (4, 4) and s.K.shape == (3, 3) and s.audio.shape == (9, 8)
    assert s.aus.shape == (11,) and s.va.shape == (2,) and s.landmarks.shape == (478, 3)
    assert s.torso_background.shape == (48, 48, 3)
    n = s.normals[s.normal_valid]
    assert torch.allclose(n.norm(dim=-1), torch.ones(len(n)), atol=1e-5)
    assert (s.normals[~s.normal_valid] == 0).all()


def test_landmarks_are_projections_of_template(toy):
    ds = PersonDataset(toy, "all")
    cam = np.load(toy / "camera.npz")
    for t in (0, 10, 21):
        p = cam["template"] @ cam["w2c"][t, :3, :3].T + cam["w2c"][t, :3, 3]
        uv = (p @ cam["K"].T)[:, :2] / p[:, 2:]
        np.testing.assert_allclose(uv, ds.landmarks[t, :, :2], atol=1e-3)


def test_audio_window_edge_padding(toy):
    ds = PersonDataset(toy, "all", audio_window=4)
    w = ds.audio_window(0).numpy()
    feats = np.load(toy / "audio_features.npy")
    np.testing.assert_array_equal(w[:5], np.repeat(feats[:1], 5, 0))
    np.testing.assert_array_equal(w[4:], feats[:5])
    w = ds.audio_window(21).numpy()
    np.testing.assert_array_equal(w[4:], np.repeat(feats[21:22], 5, 0))


def test_torso_background_composite(toy):
    ds = PersonDataset(toy, "all")
    tb = ds.torso_background(3)
    lab = np.asarray(ds.parsing[3])
    torso = np.isin(lab, (8, 9))
    assert torso.any() and (~torso).any()
    np.testing.assert_allclose(tb[torch.from_numpy(torso)], ds.image(3)[torch.from_numpy(torso)])
    from emogs.data.person import NECK_REACH, neck_behind_jaw

    behind_jaw = neck_behind_jaw(ds.background.clone(), lab, reach=max(1, round(NECK_REACH * ds.size)))
    np.testing.assert_allclose(tb[torch.from_numpy(~torso)], behind_jaw[torch.from_numpy(~torso)])


def test_neck_continues_behind_the_jaw():
    from emogs.data.person import neck_behind_jaw
    from emogs.data.schema import HAIR, NECK, SKIN

    lab = np.zeros((12, 6), np.uint8)
    lab[:7] = SKIN  # face (chin) above the neck
    lab[:7, 5] = HAIR  # a hair column: never painted over
    lab[7:, 1:5] = NECK  # the neck: columns 1..4 from row 7 down
    img = torch.rand(12, 6, 3)
    out = neck_behind_jaw(img.clone(), lab, reach=3)
    for x in range(1, 5):
        for y in range(4, 7):  # the 3 skin rows above the neck take the top neck pixel's colour
            torch.testing.assert_close(out[y, x], img[7, x])
        torch.testing.assert_close(out[:4, x], img[:4, x])  # beyond the reach: unchanged
    torch.testing.assert_close(out[:, 0], img[:, 0])  # no neck under this column
    torch.testing.assert_close(out[:, 5], img[:, 5])  # hair
    torch.testing.assert_close(out[7:], img[7:])  # the neck itself


def test_emotion_subdataset(toy):
    ds = PersonDataset(toy, "train", load_emotion=True)
    assert ds.emotion["frames"].shape[0] == len(ds.emotion["source_index"]) == ds.emotion["aus"].shape[0]


def test_normal_codec_roundtrip():
    rng = np.random.default_rng(0)
    n = rng.normal(size=(100, 3))
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    valid = rng.random(100) > 0.3
    dec, v = decode_normals(encode_normals(n, valid))
    assert (v == valid).all()
    assert np.abs(dec[valid] - n[valid]).max() < 0.02


def _copy(toy, tmp_path):
    import shutil

    dst = tmp_path / "ds"
    shutil.copytree(toy, dst)
    return dst


def test_misaligned_array_names_file_and_stage(toy, tmp_path):
    root = _copy(toy, tmp_path)
    np.save(root / "aus.npy", np.zeros((21, 11), np.float32))  # off by one frame
    with pytest.raises(DatasetError, match=r"aus\.npy.*\(22, 11\).*--stages aus"):
        PersonDataset(root)


def test_wrong_dtype_and_missing_file(toy, tmp_path):
    root = _copy(toy, tmp_path)
    np.save(root / "landmarks.npy", np.zeros((22, 478, 3), np.float64))
    with pytest.raises(DatasetError, match=r"landmarks\.npy.*dtype float64"):
        PersonDataset(root)
    root2 = _copy(toy, tmp_path / "b")
    (root2 / "camera.npz").unlink()
    with pytest.raises(DatasetError, match=r"camera\.npz is missing.*--stages camera"):
        PersonDataset(root2)


def test_bad_manifest(toy, tmp_path):
    with pytest.raises(DatasetError, match="not a person dataset"):
        PersonDataset(tmp_path)
    root = _copy(toy, tmp_path)
    m = json.loads((root / "manifest.json").read_text())
    m["format_version"] = 99
    (root / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DatasetError, match="format_version 99"):
        PersonDataset(root)
    with pytest.raises(DatasetError, match="unknown split"):
        PersonDataset(toy, "test")
