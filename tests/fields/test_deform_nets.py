"""Manipulation networks: shapes, zero-init identity, attention, AU handling, gradient flow, errors."""

from __future__ import annotations

import pytest
import torch

from emogs.fields import (
    MLP,
    AudioAttention,
    DeformOutput,
    EmotionDeformNet,
    FaceDeformNet,
    MouthDeformNet,
    TriplaneConfig,
    au_indices,
)

# small encoders keep the tests fast; "auto" uses the compiled kernels when built
ENC = TriplaneConfig(num_levels=4, log2_table_size=12, base_resolution=8, finest_resolution=64)
D, W = 24, 9
DATASET_AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU12", "AU15", "AU25", "AU26", "AU45"]


def _xyz(n=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, generator=g) * 2 - 1) * 0.15


def _perturb_head(net, std=0.05):
    with torch.no_grad():
        net.head.output_layer.weight.normal_(0, std)


def _tables(net):
    return [p.table for p in net.encoder.planes.values()]


def test_mlp_layers_and_zero_init():
    m = MLP(5, 3, hidden=8, layers=3)
    assert sum(isinstance(x, torch.nn.Linear) for x in m.net) == 3
    z = MLP(5, 3, hidden=8, layers=2, zero_init=True)
    assert torch.equal(z(torch.randn(7, 5)), torch.zeros(7, 3))
    with pytest.raises(ValueError, match="layers"):
        MLP(5, 3, layers=0)


def test_audio_attention_is_a_convex_combination():
    torch.manual_seed(0)
    att = AudioAttention(16, window=W)
    codes = torch.randn(W, 16)
    w = att.weights(codes)
    assert w.shape == (W,) and torch.all(w >= 0)
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    torch.testing.assert_close(att(codes), w @ codes)
    single = torch.randn(1, 16)
    assert torch.equal(att(single), single[0])
    with pytest.raises(ValueError, match="built for 9 frames"):
        att(torch.randn(5, 16))


def test_au_indices():
    aus, blink = au_indices(DATASET_AUS)
    assert [DATASET_AUS[i] for i in aus] == ["AU01", "AU04", "AU05", "AU06", "AU07"]
    assert DATASET_AUS[blink] == "AU45"
    with pytest.raises(ValueError, match="AU07"):
        au_indices(["AU01", "AU04", "AU05", "AU06", "AU45"])


def test_mouth_net_shapes_identity_and_gradient():
    torch.manual_seed(1)
    net = MouthDeformNet(D, ENC)
    xyz = _xyz()
    out = net(xyz, torch.randn(W, D))
    assert isinstance(out, DeformOutput)
    assert out.d_xyz.shape == (500, 3) and out.d_rot is None and out.d_scale is None
    assert torch.equal(out.d_xyz, torch.zeros(500, 3))  # fresh net = identity
    assert out.aux["audio_attention"].shape == (500, 1)
    assert net(xyz, torch.randn(D)).d_xyz.shape == (500, 3)  # a single frame works too
    _perturb_head(net)
    out = net(xyz, torch.randn(W, D))
    assert out.d_xyz.abs().max() > 0
    out.d_xyz.square().sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in _tables(net))
    assert net.audio.frame.net[0].weight.grad.abs().sum() > 0  # the audio path is trained too


def test_face_net_shapes_identity_and_gradient():
    torch.manual_seed(2)
    aus_idx, blink = au_indices(DATASET_AUS)
    net = FaceDeformNet(D, len(DATASET_AUS), ENC, aus=aus_idx, blink=blink)
    xyz = _xyz(300)
    audio, aus = torch.randn(W, D), torch.rand(len(DATASET_AUS)) * 3
    out = net(xyz, audio, aus)
    assert out.d_xyz.shape == (300, 3) and out.d_rot.shape == (300, 4) and out.d_scale.shape == (300, 3)
    for t in (out.d_xyz, out.d_rot, out.d_scale):
        assert torch.equal(t, torch.zeros_like(t))
    assert set(out.aux) == {"audio_attention", "eye_attention"}
    assert torch.all(out.aux["eye_attention"] >= 0)
    _perturb_head(net)
    out = net(xyz, audio, aus)
    (out.d_xyz.square().sum() + out.d_rot.square().sum() + out.d_scale.square().sum()).backward()
    assert all(t.grad.abs().sum() > 0 for t in _tables(net))
    assert net.au_net.net[0].weight.grad.abs().sum() > 0


def test_face_net_reacts_to_audio_and_blink():
    torch.manual_seed(3)
    net = FaceDeformNet(D, len(DATASET_AUS), ENC)  # defaults: AU45 (last) is the blink
    assert net.blink_index == 10 and net.au_index.tolist() == list(range(10))
    _perturb_head(net, 0.5)
    xyz = _xyz(200)
    audio, aus = torch.randn(W, D), torch.zeros(len(DATASET_AUS))
    base = net(xyz, audio, aus).d_xyz
    blink = aus.clone()
    blink[10] = 2.0
    assert (net(xyz, audio, blink).d_xyz - base).abs().max() > 0
    assert (net(xyz, torch.randn(W, D), aus).d_xyz - base).abs().max() > 0
    over = aus.clone()
    over[10] = 5.0  # blink clipped to [0, 2]
    torch.testing.assert_close(net(xyz, audio, over).d_xyz, net(xyz, audio, blink).d_xyz)


def test_face_net_learns_from_zero_init():
    """From the identity, a few optimiser steps reach the encoder tables (zero-init head trains first)."""
    torch.manual_seed(4)
    net = FaceDeformNet(D, 6, ENC)
    xyz, audio, aus = _xyz(200), torch.randn(W, D), torch.rand(6)
    target = torch.full((200, 3), 1e-3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    tables0 = [t.detach().clone() for t in _tables(net)]
    for _ in range(30):
        opt.zero_grad()
        loss = (net(xyz, audio, aus).d_xyz - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert any((t.detach() - t0).abs().max() > 0 for t, t0 in zip(_tables(net), tables0))


def test_emotion_net_identity_then_va_dependent():
    torch.manual_seed(5)
    net = EmotionDeformNet(ENC)
    xyz = _xyz(100)
    out = net(xyz, torch.tensor([0.5, -0.3]))
    assert out.d_xyz.shape == (100, 3) and torch.equal(out.d_xyz, torch.zeros_like(out.d_xyz))
    assert out.d_rot is None and out.d_scale is None  # position offsets only
    _perturb_head(net, 0.5)
    a = net(xyz, torch.tensor([0.5, -0.3]))
    b = net(xyz, torch.tensor([[-0.8, 0.9]]))  # [1, 2] accepted
    assert (a.d_xyz - b.d_xyz).abs().max() > 0
    # gradient reaches H_E and the (already deformed) input positions
    x = xyz.clone().requires_grad_(True)
    net(x, torch.tensor([0.1, 0.2])).d_xyz.sum().backward()
    assert all(t.grad.abs().sum() > 0 for t in _tables(net))
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_nets_reject_bad_inputs_with_the_fix():
    net = FaceDeformNet(D, 6, ENC)
    with pytest.raises(ValueError, match="audio_dim"):
        net(_xyz(10), torch.randn(W, D + 1), torch.rand(6))
    with pytest.raises(ValueError, match=r"2W\+1"):
        net(_xyz(10), torch.randn(5, D), torch.rand(6))
    with pytest.raises(ValueError, match="aus.npy"):
        net(_xyz(10), torch.randn(W, D), torch.rand(7))
    with pytest.raises(ValueError, match=r"xyz must be a float tensor \[N, 3\]"):
        net(torch.zeros(10, 2), torch.randn(W, D), torch.rand(6))
    with pytest.raises(ValueError, match="distinct"):
        FaceDeformNet(D, 6, ENC, aus=[0, 1, 5], blink=5)
    with pytest.raises(ValueError, match="valence, arousal"):
        EmotionDeformNet(ENC)(_xyz(10), torch.zeros(3))


def _trained_looking(*nets):
    """The nets with non-zero heads and hash tables (fresh ones output exactly 0)."""
    for net in nets:
        _perturb_head(net, 0.3)
        with torch.no_grad():
            for t in _tables(net):
                t.normal_(0, 0.5)
    return nets


def test_cached_spatial_features_give_the_same_deformation():
    torch.manual_seed(6)
    face, mouth = _trained_looking(FaceDeformNet(D, 6, ENC), MouthDeformNet(D, ENC))
    xyz = _xyz(300)
    with torch.no_grad():
        sp_face, sp_mouth = face.spatial(xyz), mouth.spatial(xyz)
        for _ in range(2):  # two "frames" from one cache
            audio, aus = torch.randn(W, D), torch.rand(6) * 2
            a, b = face(xyz, audio, aus), face(xyz, audio, aus, spatial=sp_face)
            for x, y in ((a.d_xyz, b.d_xyz), (a.d_rot, b.d_rot), (a.d_scale, b.d_scale)):
                assert x.abs().max() > 0
                torch.testing.assert_close(x, y)
            torch.testing.assert_close(mouth(xyz, audio).d_xyz, mouth(xyz, audio, spatial=sp_mouth).d_xyz)
    # the split head equals the plain MLP on the concatenated input
    enc = face.encoder(xyz)
    cond = torch.randn(300, face.head.in_dim - enc.shape[1])
    from emogs.fields.deform.common import head_rest, split_head_first

    torch.testing.assert_close(
        head_rest(face.head, split_head_first(face.head, enc), [cond[:, :20], cond[:, 20:]]),
        face.head(torch.cat([enc, cond], 1)),
    )
    with pytest.raises(ValueError, match="recompute"):
        face(xyz[:10], torch.randn(W, D), torch.rand(6), spatial=sp_face)


def test_inference_fast_path_matches_forward():
    torch.manual_seed(7)
    face, mouth, emo = _trained_looking(FaceDeformNet(D, 6, ENC), MouthDeformNet(D, ENC),
                                        EmotionDeformNet(ENC))
    xyz = _xyz(300)
    with torch.no_grad():
        sp_f, sp_m, sp_e = face.spatial(xyz), mouth.spatial(xyz), emo.spatial(xyz)
        for _ in range(2):
            audio, aus, va = torch.randn(W, D), torch.rand(6) * 2, torch.rand(2) * 2 - 1
            ref, fast = face(xyz, audio, aus), face.infer(sp_f, audio, aus)
            for x, y in ((ref.d_xyz, fast.d_xyz), (ref.d_rot, fast.d_rot), (ref.d_scale, fast.d_scale)):
                assert x.abs().max() > 0
                # equal up to rounding: the fast path scales the head's weights by the codes
                torch.testing.assert_close(y, x, rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(mouth.infer(sp_m, audio).d_xyz, mouth(xyz, audio).d_xyz, rtol=1e-5,
                                       atol=1e-9)
            ref_e = emo(xyz, va)
            assert ref_e.d_xyz.abs().max() > 0
            torch.testing.assert_close(emo(xyz, va, spatial=sp_e).d_xyz, ref_e.d_xyz)
            fast_e = emo.infer(sp_e, va)
            for k in ("d_xyz",):
                torch.testing.assert_close(getattr(fast_e, k), getattr(ref_e, k), rtol=1e-5, atol=1e-7)
            # row blocks (cache-sized intermediates) give the same rows, also for a ragged last block
            for blocked, full in ((face.infer(sp_f, audio, aus, chunk=64).d_rot, ref.d_rot),
                                  (mouth.infer(sp_m, audio, chunk=70).d_xyz, mouth(xyz, audio).d_xyz),
                                  (emo.infer(sp_e, va, chunk=128).d_xyz, ref_e.d_xyz)):
                torch.testing.assert_close(blocked, full, rtol=1e-6, atol=1e-7)
    # the cached spatial part must match the points it is used with
    with pytest.raises(ValueError, match="recompute"):
        emo(xyz[:5], torch.zeros(2), spatial=sp_e)
    with pytest.raises(ValueError, match="valence, arousal"):
        emo.infer(sp_e, torch.zeros(3))
    with pytest.raises(ValueError, match="chunk"):
        mouth.infer(sp_m, torch.randn(W, D), chunk=0)


def test_emotion_net_code_is_zero_at_rest_and_offsets_linear_in_it():
    """code = [e(va), g(e) - g(0)] with e the FACS embedding (the V/A model's AU intensities relative
    to the rest expression, / 5): the rest V/A gives no motion at all; offsets are linear in the code;
    forward, cached-spatial and fast paths agree."""
    import numpy as np

    from emogs.emotion.va_model import VA_AU_NAMES, va_to_aus

    torch.manual_seed(8)
    rest = (0.7, 0.3)
    (emo,) = _trained_looking(EmotionDeformNet(ENC, rest_va=rest))
    va = torch.tensor([-0.3, 0.7])
    want = (va_to_aus(va.double().numpy()) - va_to_aus(np.array(rest))) / 5.0
    torch.testing.assert_close(emo.embed(va), torch.from_numpy(want).float())
    assert emo.code(va).shape == (len(VA_AU_NAMES) + 8,)
    xyz = _xyz(200)
    with torch.no_grad():
        still = emo(xyz, torch.tensor(rest, dtype=torch.float32))
        assert float(still.d_xyz.abs().max()) < 1e-6
        sp = emo.spatial(xyz)
        a, b = emo(xyz, va), emo(xyz, torch.tensor([0.8, -0.2]))
        assert (a.d_xyz - b.d_xyz).abs().max() > 0
        torch.testing.assert_close(emo(xyz, va, spatial=sp).d_xyz, a.d_xyz)
        torch.testing.assert_close(emo.infer(sp, va).d_xyz, a.d_xyz, rtol=1e-5, atol=1e-7)
        # linear in the code: the bases evaluated one code component at a time add up
        bases = emo._bases(emo.encoder(xyz))  # [N, 10, K]
        code = a.aux["code"]
        torch.testing.assert_close(a.d_xyz, (bases[:, 0:3] @ code) * emo.xyz_scale)
    raw = EmotionDeformNet(ENC, embedding="va", rest_va=rest)
    torch.testing.assert_close(raw.embed(torch.tensor([0.5, 0.5])), torch.tensor([-0.2, 0.2]))
    with pytest.raises(ValueError, match="'va' or 'facs'"):
        EmotionDeformNet(ENC, embedding="aus")


def test_face_net_clamps_aus_to_the_training_range():
    torch.manual_seed(5)
    net = FaceDeformNet(D, len(DATASET_AUS), ENC)
    _perturb_head(net, 0.5)
    with torch.no_grad():
        for p in net.au_net.parameters():
            p.normal_(0, 1.0)
    xyz, audio = _xyz(200), torch.randn(W, D)
    train = torch.rand(50, len(DATASET_AUS)) * 2.0  # the clip's AUs: 0..2
    far = torch.full((len(DATASET_AUS),), 40.0)  # an expression far beyond the clip
    open_far = net(xyz, audio, far).d_xyz.norm(dim=1).max()
    net.set_au_range(train, margin=0.1)
    lo, hi = net.au_range
    torch.testing.assert_close(hi, train.max(0).values + (0.1 * (train.max(0).values - train.min(0).values))
                               .clamp(min=0.1))
    at_edge = net(xyz, audio, hi).d_xyz
    torch.testing.assert_close(net(xyz, audio, far).d_xyz, at_edge)  # bounded: the edge of the range
    torch.testing.assert_close(net(xyz, audio, torch.full_like(far, 1e6)).d_xyz, at_edge)
    assert open_far > 2 * at_edge.norm(dim=1).max()  # without the range the far AUs drove it further
    inside = train[7]
    net2 = FaceDeformNet(D, len(DATASET_AUS), ENC)
    net2.load_state_dict(net.state_dict())
    torch.testing.assert_close(net2.au_range, net.au_range)  # saved with the weights
    torch.testing.assert_close(net2(xyz, audio, inside).d_xyz, net(xyz, audio, inside).d_xyz)
    old = {k: v for k, v in net.state_dict().items() if k != "au_range"}  # an avatar fitted before
    net3 = FaceDeformNet(D, len(DATASET_AUS), ENC)
    net3.load_state_dict(old)
    assert (net3.au_range.abs() > 1e3).all()  # open: old avatars render as before
