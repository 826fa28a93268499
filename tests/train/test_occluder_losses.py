"""Occluders (occluders.npy): a hand over the face is left out of every training loss."""

import numpy as np
import torch

from emogs.data import PersonDataset
from emogs.data.synthetic import write_toy_dataset
from emogs.train import Trainer, config_from_dict


def _occluded_toy(tmp_path):
    root = write_toy_dataset(tmp_path / "ds", num_frames=12, size=16, audio_dim=8)
    occ = np.zeros((12, 16, 16), np.uint8)
    occ[:, 6:12, 4:11] = 1  # a "hand" over the middle of the face in every frame
    np.save(root / "occluders.npy", occ)
    return root, occ


def _loss_and_rgb_grad(trainer, sample, stage="networks"):
    loss, _, out = trainer.compute_loss(stage, sample, use_va=False)
    out["rgb"].retain_grad()
    loss.backward()
    return float(loss.detach()), out["rgb"].grad.clone()


def test_dataset_reads_the_mask_and_old_datasets_have_none(tmp_path):
    root, occ = _occluded_toy(tmp_path)
    s = PersonDataset(root)[3]
    assert s.occluded.dtype == torch.bool and torch.equal(s.occluded, torch.from_numpy(occ[3] > 0))
    (root / "occluders.npy").unlink()
    assert PersonDataset(root)[3].occluded is None


def test_occluded_pixels_get_no_gradient_and_their_content_is_never_learned(tmp_path, tiny_train_config):
    root, occ = _occluded_toy(tmp_path)
    ds = PersonDataset(root)
    trainer = Trainer(config_from_dict(tiny_train_config), ds, tmp_path / "fit", progress=False)
    torch.manual_seed(0)
    trainer._setup(trainer._fresh_avatar().train())
    trainer._freeze_for(trainer.specs["networks"])
    sample = ds[2]
    loss, grad = _loss_and_rgb_grad(trainer, sample)
    hand = torch.from_numpy(occ[2] > 0)
    assert (grad[hand] == 0).all()
    assert grad[~hand].abs().sum() > 0  # the rest of the frame still trains
    # paint the hand a loud colour: nothing changes (the D-SSIM windows see the render there too)
    sample.image[hand] = torch.tensor([1.0, 0.0, 1.0])
    loss2, grad2 = _loss_and_rgb_grad(trainer, sample)
    assert loss2 == loss
    torch.testing.assert_close(grad2, grad)
    # without the mask the same hand changes the loss: the test can see a leak
    sample.occluded = None
    loss3, grad3 = _loss_and_rgb_grad(trainer, sample)
    assert loss3 != loss and (grad3[hand] != 0).any()
