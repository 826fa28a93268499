import pytest

from emogs.train import STAGES, load_config
from emogs.train.config import CONFIG_DIR


def test_presets_load_and_have_all_stages():
    for name in ("quick", "paper"):
        cfg = load_config(name)
        assert cfg.preset == name
        assert set(cfg.stages) == set(STAGES)
        assert all(v > 0 for v in cfg.stages.values())
    q, p = load_config("quick"), load_config("paper")
    assert q.train_size < p.train_size and q.total_steps() < p.total_steps()
    # emotion stage adds at most 50% to the quick fit
    assert q.stages["emotion"] <= 0.5 * q.total_steps(with_emotion=False)
    assert p.stages["canonical"] == 50_000  # the published schedule


def test_overrides_and_unknown_keys(tmp_path):
    cfg = load_config("quick", overrides={"stages": {"canonical": 7}, "model": {"num_face": 123}})
    assert cfg.stages["canonical"] == 7 and cfg.stages["fuse"] == load_config("quick").stages["fuse"]
    assert cfg.model.num_face == 123
    with pytest.raises(ValueError, match="unknown config keys"):
        load_config("quick", overrides={"model": {"num_faces": 1}})
    with pytest.raises(ValueError, match="unknown stages"):
        load_config("quick", overrides={"stages": {"mouth": 1}})
    with pytest.raises(FileNotFoundError, match="presets"):
        load_config("nope")
    y = tmp_path / "c.yaml"
    y.write_text("train_size: 32\nstages: {canonical: 5}\n")
    c = load_config(y)
    assert c.train_size == 32 and c.stages == {"canonical": 5, "networks": 0, "fuse": 0, "emotion": 0}
    assert (CONFIG_DIR / "quick.yaml").exists()
