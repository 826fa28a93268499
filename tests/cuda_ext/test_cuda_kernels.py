"""Our CUDA kernels against the torch reference, forward and gradients (skipped without a GPU).

The same comparisons as `make gpu-check` (emogs.cuda_check): float64 within 1e-4 of the reference's
scale; float32 looser (hard thresholds - alpha < 1/255, T <= 1e-4 - may flip at a pixel under
--use_fast_math). Then the whole avatar: a CUDA render equals the CPU one, and a few training steps
with densification run on the GPU.
"""

import numpy as np
import pytest
import torch

from emogs._ext import cuda_compiled

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

DEV = torch.device("cuda", 0)


def _need(name):
    if not cuda_compiled(name):
        pytest.skip(f"emogs._ext_{name} was built without CUDA (EMOGS_CUDA=1 make build)")


@pytest.mark.parametrize("channels", [1, 4, 7])
def test_rasterizer_float64_matches_reference(channels):
    from emogs.cuda_check import compare_rasterizer

    _need("raster")
    err = compare_rasterizer("cuda", DEV, torch.float64, channels=channels)
    assert max(err.values()) <= 1e-4, err


def test_rasterizer_float32_forward_close():
    from emogs.cuda_check import compare_rasterizer

    _need("raster")
    err = compare_rasterizer("cuda", DEV, torch.float32)
    assert max(err[k] for k in ("image", "alpha", "depth")) <= 1e-3, err


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-4), (torch.float32, 1e-3)])
def test_hash_grid_matches_reference(dtype, tol):
    from emogs.cuda_check import compare_hash_grid

    _need("hashgrid")
    err = compare_hash_grid("cuda", DEV, dtype)
    assert max(err.values()) <= tol, err


def test_gsplat_adapter_close_to_reference():
    from emogs.cuda_check import compare_rasterizer
    from emogs.render import available_backends

    if "gsplat" not in available_backends(DEV, torch.float32):
        pytest.skip("gsplat not installed")
    err = compare_rasterizer("gsplat", DEV, torch.float32)
    assert max(err[k] for k in ("image", "alpha", "depth")) <= 1e-2, err


def test_avatar_renders_the_same_on_cuda(tmp_path):
    from emogs.avatar import AvatarConfig, FrameConditions, build_avatar
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.fields import TriplaneConfig

    _need("raster")
    _need("hashgrid")
    ds = PersonDataset(write_toy_dataset(tmp_path / "ds", num_frames=4, size=64, audio_dim=8))
    enc = TriplaneConfig(num_levels=4, log2_table_size=10, base_resolution=4, finest_resolution=16)
    cfg = AvatarConfig(audio_dim=8, aus_names=ds.aus_names, sh_degree=1, num_face=500, num_mouth=80,
                       num_eyes=50, face_encoder=enc, mouth_encoder=enc, emotion_encoder=enc,
                       with_emotion=True)
    t = np.load(ds.root / "camera.npz")["template"]
    av = build_avatar(cfg, t, (ds.image(0).numpy() * 255).astype(np.uint8), ds.w2c[0].numpy(), ds.K.numpy())
    s = ds[1]
    cond = FrameConditions(s.w2c, s.K, s.audio, s.aus, torch.tensor([0.4, 0.2]), s.torso_background)
    cpu = av.eval().render_frame(cond, 64)
    gpu = av.to(DEV).render_frame(cond, 64)  # the conditions follow the avatar
    assert gpu["rgb"].device.type == "cuda"
    for k in ("rgb", "alpha", "depth"):
        assert float((gpu[k].cpu() - cpu[k]).abs().max()) < 1e-3, k


def test_a_few_training_steps_with_densification_on_cuda(tmp_path):
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.train import Trainer, config_from_dict

    _need("raster")
    _need("hashgrid")
    ds = PersonDataset(write_toy_dataset(tmp_path / "ds", num_frames=6, size=32, audio_dim=8))
    cfg = config_from_dict({
        "train_size": 32, "stages": {"canonical": 4, "networks": 4, "fuse": 0, "emotion": 0},
        "model": {"sh_degree": 1, "num_face": 200, "num_mouth": 40, "hash_levels": 2,
                  "hash_log2_table_size": 8},
        "densify": {"refine_start": 1, "refine_every": 2, "refine_stop": 100, "grow_grad2d": 1e-9},
        "checkpoint_every": 3})
    tr = Trainer(cfg, ds, tmp_path / "fit", progress=False, device=DEV)
    av = tr.run()
    assert av.device.type == "cuda" and tr.backends == {"raster": "cuda", "hashgrid": "cuda"}
    assert len(av.face) != 200  # densification ran on the GPU
    resumed = Trainer(cfg, ds, tmp_path / "fit", progress=False, device=DEV)
    assert resumed.resume() and resumed.avatar.device.type == "cuda"
