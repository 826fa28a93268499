import pytest

from emogs.train import STAGES, config_from_dict, load_config
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


def test_values_are_type_checked(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("lr: {means: 1e-3, sh0: 2}\nloss: {dssim: 0.3}\n")
    c = load_config(y)  # YAML 1.2 numbers: 1e-3 is a float (PyYAML alone reads the string "1e-3")
    assert c.lr.means == 1e-3 and isinstance(c.lr.sh0, float) and c.lr.sh0 == 2.0
    y.write_text("lr: {means: '1e-3'}\n")
    with pytest.raises(ValueError, match=r"lr\.means.*'1e-3'.*str.*not a float"):
        load_config(y)
    with pytest.raises(ValueError, match=r"train_size.*'big'.*not a int"):
        load_config("quick", overrides={"train_size": "big"})
    with pytest.raises(ValueError, match=r"stages\.canonical.*2\.5.*not a int"):
        load_config("quick", overrides={"stages": {"canonical": 2.5}})
    with pytest.raises(ValueError, match=r"quick.yaml: config key 'model': 3 \(int\) is not a ModelConfig"):
        load_config("quick", overrides={"model": 3})
    with pytest.raises(ValueError, match=r"lpips_weights.*3.*not a str \| None"):
        load_config("quick", overrides={"lpips_weights": 3})


def test_densify_is_the_strategy_and_old_keys_still_load():
    from emogs.gaussians import DensifyStrategy

    q = load_config("quick")
    assert type(q.densify) is DensifyStrategy and q.densify.refine_stop == 2000
    assert (q.model.max_face, q.model.max_mouth) == (20000, 4000)
    # avatar.json of earlier fits keeps densify.max_face / max_mouth: read into the model section
    old = config_from_dict({"densify": {"max_face": 7, "max_mouth": 3, "refine_every": 9}})
    assert (old.model.max_face, old.model.max_mouth, old.densify.refine_every) == (7, 3, 9)
    with pytest.raises(ValueError, match="model.max_face"):
        config_from_dict({"densify": {"max_gaussians": 7}})


def test_avatar_config_is_built_from_the_model_section(tmp_path):
    from dataclasses import fields

    from emogs.avatar.avatar import AvatarOptions
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.train.trainer import avatar_config_for

    ds = PersonDataset(write_toy_dataset(tmp_path / "ds", num_frames=8, size=16, audio_dim=8))
    cfg = load_config("quick", overrides={"model": {"emotion_embedding": "va", "num_eyes": 3}})
    av = avatar_config_for(cfg, ds, with_emotion=False)
    for f in fields(AvatarOptions):  # every option travels, none is copied by hand
        assert getattr(av, f.name) == getattr(cfg.model, f.name), f.name
    assert av.face_encoder.num_levels == cfg.model.hash_levels and av.audio_dim == 8
    assert av.emotion_encoder.log2_table_size == min(15, cfg.model.hash_log2_table_size)


def test_to_dict_round_trips():
    q = load_config("quick", overrides={"lr": {"means": 2e-4}, "model": {"max_mouth": 9}})
    assert config_from_dict(q.to_dict()) == q
