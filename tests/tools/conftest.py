"""Shared by the tool tests: a tiny training preset and one avatar fitted with it by fit_person."""

import json

import pytest
from tool_helpers import TINY, load_tool

from emogs.data.synthetic import write_toy_dataset


@pytest.fixture(scope="session")
def fitted(tmp_path_factory):
    """(folder, toy dataset, avatar folder): a 12-frame 16 px toy dataset fitted with TINY (~25 s)."""
    tmp = tmp_path_factory.mktemp("tools")
    root = write_toy_dataset(tmp / "ds", num_frames=12, size=16, audio_dim=80, with_emotion=True)
    m = json.loads((root / "manifest.json").read_text())
    m["audio_features"]["extractor"] = "logmel"  # so new audio can be featurised like the dataset
    (root / "manifest.json").write_text(json.dumps(m))
    (tmp / "tiny.yaml").write_text(TINY)
    out = tmp / "out"
    rc = load_tool("fit_person").main([str(root), "--out", str(out), "--preset", str(tmp / "tiny.yaml"),
                                       "--quiet"])
    assert rc == 0
    return tmp, root, out / "avatar"
