"""emogs.cuda_check, the harness of `make gpu-check`, exercised on the CPU with the C++ kernels."""

import pytest
import torch

from emogs._ext import has_extension
from emogs.cuda_check import compare_hash_grid, compare_rasterizer, render_fps, timed_fit

pytestmark = pytest.mark.skipif(not (has_extension("raster") and has_extension("hashgrid")),
                                reason="compiled kernels not built")


def test_rasterizer_comparison_covers_every_output_and_gradient():
    err = compare_rasterizer("cpu", "cpu", torch.float64, n=120, width=40, height=24)
    assert set(err) == {"image", "alpha", "depth", "grad_means", "grad_quats", "grad_scales",
                        "grad_opacities", "grad_features", "grad_background"}
    assert max(err.values()) < 1e-10, err


def test_rasterizer_comparison_sees_a_wrong_kernel(monkeypatch):
    """A kernel off by 1e-3 in its image must be reported as such (the harness can fail)."""
    from emogs.render import api

    real = api._render_one

    def off(backend, *a, **k):
        out = real(backend, *a, **k)
        if backend == "cpu":
            out.image = out.image * (1 + 1e-3)
        return out

    monkeypatch.setattr(api, "_render_one", off)
    err = compare_rasterizer("cpu", "cpu", torch.float64, n=60, width=32, height=16)
    assert 5e-4 < err["image"] < 2e-3 and err["alpha"] < 1e-10


def test_hash_grid_comparison_dense_and_hashed_levels():
    err = compare_hash_grid("cpu", "cpu", torch.float64, n=300)
    assert set(err) == {"out", "grad_table", "grad_coords", "triplane_out", "triplane_grad_tables",
                        "triplane_grad_uvw"}
    assert max(err.values()) < 1e-12, err


def test_timed_fit_and_render_fps_on_the_cpu(tmp_path):
    from emogs.avatar.drive import frame_conditions
    from emogs.data.synthetic import write_toy_dataset

    root = write_toy_dataset(tmp_path / "ds", num_frames=6, size=24, audio_dim=8)
    (tmp_path / "tiny.yaml").write_text(
        "train_size: 512\nmodel: {sh_degree: 0, num_face: 80, num_mouth: 10, num_eyes: 0, face_hidden: 8,\n"
        "  mouth_hidden: 8, hash_levels: 2, hash_log2_table_size: 8, face_finest_resolution: 8,\n"
        "  mouth_finest_resolution: 8}\n")
    avatar, rate, ds = timed_fit(root, tmp_path / "fit", steps=8, device=torch.device("cpu"),
                                 preset=str(tmp_path / "tiny.yaml"), warmup=2)
    assert rate > 0 and (tmp_path / "fit" / "avatar.safetensors").exists()
    assert render_fps(avatar, frame_conditions(ds[0]), size=24, frames=2, warmup=1) > 0
