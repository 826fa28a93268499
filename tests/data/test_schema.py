"""The dataset contract (emogs.data.schema): the normals codec, the class table, manifest reading."""

import json

import numpy as np
import pytest

from emogs.data import schema


def test_normals_codec_round_trip_and_full_range():
    rng = np.random.default_rng(0)
    n = rng.normal(size=(500, 3)).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    n[0] = (0, 0, -1)  # facing the camera: the z component encodes to 0 (kept: range [0, 255])
    valid = np.ones(len(n), bool)
    valid[1] = False
    enc = schema.encode_normals(n, valid)
    assert enc.dtype == np.uint8 and enc[0].tolist() == [128, 128, 0] and enc[1].tolist() == [0, 0, 0]
    dec, ok = schema.decode_normals(enc)
    assert ok.tolist() == valid.tolist()
    assert np.abs(dec[valid] - n[valid]).max() < 0.01
    assert dec[0].tolist() == pytest.approx([0.0039, 0.0039, -1.0], abs=1e-3)  # -1 decodes to -1


def test_class_table_is_consistent():
    assert len(schema.CLASS_NAMES) == 10 and schema.CLASS_NAMES[schema.SKIN] == "skin"
    assert set(schema.FACE_CLASSES) == {schema.SKIN, schema.BROWS, schema.EYES, schema.LIPS}
    assert not set(schema.FACE_CLASSES) & set(schema.INSIDE_MOUTH_CLASSES + schema.TORSO_CLASSES)


def test_manifest_readers(tmp_path):
    assert schema.manifest_so_far(tmp_path) == {}
    with pytest.raises(schema.DatasetError, match="not a person dataset"):
        schema.read_manifest(tmp_path)
    (tmp_path / schema.MANIFEST).write_text("{not json")
    assert schema.manifest_so_far(tmp_path) == {}
    (tmp_path / schema.MANIFEST).write_text(json.dumps({"format_version": 0}))
    with pytest.raises(schema.DatasetError, match=r"format_version 0, this emogs reads version 1.*Re-prep"):
        schema.read_manifest(tmp_path)
    (tmp_path / schema.MANIFEST).write_text(json.dumps({"format_version": schema.FORMAT_VERSION, "fps": 25}))
    assert schema.read_manifest(tmp_path)["fps"] == 25 == schema.manifest_so_far(tmp_path)["fps"]
