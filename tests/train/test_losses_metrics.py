import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from emogs import losses, metrics


def test_l1_mask_and_dssim():
    a = torch.rand(32, 32, 3)
    b = a.clone()
    b[:16] += 0.5
    mask = torch.zeros(32, 32)
    mask[16:] = 1
    assert float(losses.l1(a, b, mask)) == pytest.approx(0.0, abs=1e-7)
    assert float(losses.l1(a, b)) == pytest.approx(0.25, abs=1e-6)
    assert float(losses.dssim(a, a)) == pytest.approx(0.0, abs=1e-5)
    assert float(losses.dssim(a, torch.rand(32, 32, 3))) > 0.5
    with pytest.raises(ValueError, match="image"):
        losses.dssim(a[0], b[0])


def test_flow_l1_scales_by_alpha_and_skips_unknown_motion():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(8, 8, 2, generator=g, requires_grad=True)
    target = torch.randn(8, 8, 2, generator=g)
    alpha = torch.rand(8, 8, 1, generator=g)
    region = torch.rand(8, 8, generator=g)
    want = ((pred - alpha * target).abs().sum(-1) * region).sum() / region.sum()
    assert float(losses.flow_l1(pred, target, alpha, region)) == pytest.approx(float(want), rel=1e-6)
    unknown = target.clone()
    unknown[2:5, 3:6] = float("nan")
    known = torch.ones(8, 8)
    known[2:5, 3:6] = 0
    got = losses.flow_l1(pred, unknown, alpha, region)
    want = ((pred - alpha * target).abs().sum(-1) * region * known).sum() / (region * known).sum()
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    got.backward()
    assert torch.isfinite(pred.grad).all() and not pred.grad[2:5, 3:6].any()


def test_normal_loss_terms():
    n = torch.nn.functional.normalize(torch.randn(16, 16, 3), dim=-1)
    valid = torch.ones(16, 16, dtype=torch.bool)
    smooth = torch.zeros(16, 16, 3)
    smooth[..., 2] = -1
    assert float(losses.normal_loss(smooth, smooth, valid)) == pytest.approx(0.0, abs=1e-7)
    # TV penalises the noisy map, delta_n is penalised squared
    assert float(losses.normal_loss(n, n, valid, w_tv=1.0)) > 0.5
    dn = torch.full((10, 3), 0.1, requires_grad=True)
    v = losses.normal_loss(smooth, smooth, valid, dn, w_dn=1.0)
    assert float(v.detach()) == pytest.approx(0.03, rel=1e-5)
    v.backward()
    assert dn.grad.abs().sum() > 0
    # invalid pixels do not count
    valid2 = torch.zeros(16, 16, dtype=torch.bool)
    assert float(losses.normal_loss(n, smooth, valid2, w_tv=1.0)) == 0.0


def test_lpips_architecture_and_loader(tmp_path):
    torch.manual_seed(0)
    model = losses.LPIPS()
    state = {}
    for i, idx in enumerate(losses._ALEX_INDICES):
        state[f"features.{idx}.weight"] = torch.randn_like(model.convs[i].weight) * 0.05
        state[f"features.{idx}.bias"] = torch.zeros_like(model.convs[i].bias)
        state[f"lin{i}.model.1.weight"] = torch.rand_like(model.lins[i].weight)
    save_file(state, str(tmp_path / "lpips.safetensors"))
    m, msg = losses.load_lpips(tmp_path / "lpips.safetensors")
    assert msg == "ok"
    a = torch.rand(64, 64, 3)
    assert float(m(a, a)) == pytest.approx(0.0, abs=1e-6)
    d = float(m(a, (a + 0.3 * torch.randn_like(a)).clamp(0, 1)))
    assert d > 0
    del state["lin2.model.1.weight"]
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(KeyError, match="lin2"):
        losses.load_lpips(tmp_path / "bad.safetensors")
    none, reason = losses.load_lpips(None)
    assert none is None and "not computed" in reason
    assert isinstance(metrics.lpips(a, a, None, reason), metrics.NotComputed)


def test_psnr_ssim_lmd_aue():
    a = torch.full((8, 8, 3), 0.5)
    b = a + 0.1
    assert metrics.psnr(a, b) == pytest.approx(20.0, abs=1e-4)
    assert metrics.ssim(a * 0 + torch.rand(8, 8, 3), a * 0 + torch.rand(8, 8, 3)) < 0.9
    lm = np.random.rand(3, 478, 3) * 100
    lm2 = lm.copy()
    lm2[:, list(metrics.LIP_INDICES), 0] += 3.0
    lm2[:, 1, 0] += 100  # not a lip point: ignored
    assert metrics.lmd(lm2, lm) == pytest.approx(3.0)
    names = ["AU01", "AU12", "AU45"]
    p = np.zeros((4, 3))
    t = np.zeros((4, 3))
    t[:, 1] = 2.0
    out = metrics.aue(p, t, names)
    assert out["AUE-U"] == 0.0 and out["AUE-L"] == 2.0
    only_up = metrics.aue(p[:, :1], t[:, :1], ["AU01"])
    assert isinstance(only_up["AUE-L"], metrics.NotComputed)
    assert metrics.to_json(only_up)["AUE-L"]["computed"] is False


def test_similarity_align_recovers_a_head_pose_and_keeps_the_mouth_shape():
    rng = np.random.default_rng(0)
    truth = rng.uniform(100, 400, size=(3, 478, 2))
    th = np.array([0.05, -0.2, 0.4])
    rot = np.stack([np.stack([np.cos(th), -np.sin(th)], -1), np.stack([np.sin(th), np.cos(th)], -1)], -2)
    moved = np.einsum("tij,tpj->tpi", rot, truth) * np.array([1.1, 0.9, 1.0])[:, None, None] + [[[5.0, -7.0]]]
    back = metrics.similarity_align(moved, truth)
    np.testing.assert_allclose(back, truth, atol=1e-9)
    # a mouth that differs only off the rigid points keeps its difference after alignment
    opened = truth.copy()
    opened[:, list(metrics.LIP_INDICES), 1] += 2.0
    assert all(i not in metrics.RIGID_INDICES for i in metrics.LIP_INDICES)
    assert metrics.lmd(metrics.similarity_align(opened, truth), truth) == pytest.approx(2.0, abs=1e-9)
    with pytest.raises(ValueError, match="frame counts"):
        metrics.similarity_align(truth, truth[:2])
