"""Stage specs (emogs.train.stages) drive what the trainer trains and which loss terms it adds."""

from dataclasses import replace

import pytest
import torch

from emogs.avatar.store import avatar_tensors
from emogs.data import PersonDataset
from emogs.data.synthetic import write_toy_dataset
from emogs.train import STAGES, Trainer, config_from_dict
from emogs.train.stages import STAGE_SPECS, StageSpec


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", num_frames=10, size=16, audio_dim=8)


def _trainer(toy, tmp_path, tiny_train_config, stages, specs):
    cfg = config_from_dict({**tiny_train_config, "stages": stages, "lr": {"means": 1e-2, "sh0": 1e-2}})
    return Trainer(cfg, PersonDataset(toy), tmp_path, progress=False, specs=specs)


def _changed(before, after, prefix):
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, prefix
    return {k for k in keys if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])}


def test_the_spec_decides_which_parameters_train(toy, tmp_path, tiny_train_config):
    # a "networks" stage that trains the networks only: the Gaussians keep their initial values
    nets_only = {**STAGE_SPECS, "networks": replace(STAGE_SPECS["networks"], trains=frozenset({"nets"}),
                                                    densify=False)}
    stages = {"canonical": 0, "networks": 3, "fuse": 0, "emotion": 0}
    tr = _trainer(toy, tmp_path / "a", tiny_train_config, stages, nets_only)
    fresh = avatar_tensors(tr._fresh_avatar())
    after = avatar_tensors(tr.run())
    assert _changed(fresh, after, "face_net.") and _changed(fresh, after, "mouth_net.")
    for prefix in ("face.", "mouth.", "eyes."):
        assert not _changed(fresh, after, prefix), prefix
    assert all(not p.requires_grad for p in tr.avatar.face.params.values())
    assert all(p.requires_grad for p in tr.avatar.face_net.parameters())
    # the stock spec trains the Gaussians too
    tr = _trainer(toy, tmp_path / "b", tiny_train_config, stages, None)
    after = avatar_tensors(tr.run())
    assert _changed(fresh, after, "face.") and _changed(fresh, after, "face_net.")
    # ... and a stage that does not deform gives the networks no gradient: they stay as initialised
    still = {**STAGE_SPECS, "networks": replace(STAGE_SPECS["networks"], deform=False)}
    tr = _trainer(toy, tmp_path / "c", tiny_train_config, stages, still)
    after = avatar_tensors(tr.run())
    assert _changed(fresh, after, "face.") and not _changed(fresh, after, "face_net.")


def test_the_spec_decides_the_loss_terms(toy, tmp_path, tiny_train_config):
    rgb_only = {**STAGE_SPECS, "canonical": replace(STAGE_SPECS["canonical"], losses=frozenset({"rgb"}))}
    stages = {"canonical": 1, "networks": 0, "fuse": 0, "emotion": 0}
    tr = _trainer(toy, tmp_path / "a", tiny_train_config, stages, rgb_only)
    seen = []
    tr.step_callback = lambda step, parts: seen.append(parts)
    tr.run()
    assert set(seen[0]) == {"rgb", "psnr", "loss"} and seen[0]["loss"] == seen[0]["rgb"]
    tr = _trainer(toy, tmp_path / "b", tiny_train_config, stages, None)
    tr.step_callback = lambda step, parts: seen.append(parts)
    tr.run()
    assert set(seen[1]) == {"rgb", "normal", "alpha", "psnr", "loss"} and seen[1]["loss"] > seen[1]["rgb"]


def test_specs_are_checked():
    assert STAGES == tuple(STAGE_SPECS) == ("canonical", "networks", "fuse", "emotion")
    with pytest.raises(ValueError, match="unknown parameter groups / loss terms"):
        StageSpec(trains=frozenset({"gaussian"}), losses=frozenset({"rgb"}))
    with pytest.raises(ValueError, match="must include 'rgb'"):
        StageSpec(trains=frozenset({"nets"}), losses=frozenset({"normal"}))
