"""The fast inference path of Avatar.render_frame equals the plain differentiable render."""

import numpy as np
import pytest
import torch

from emogs.avatar import AvatarConfig, build_avatar
from emogs.avatar.drive import frame_conditions
from emogs.data import PersonDataset
from emogs.data.synthetic import write_toy_dataset
from emogs.fields import TriplaneConfig

SMALL_ENC = TriplaneConfig(num_levels=4, log2_table_size=10, base_resolution=4, finest_resolution=16)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = write_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", num_frames=6, size=48, audio_dim=8)
    return PersonDataset(root, split="train")


def _trained_looking_avatar(ds, seed=0):
    """An avatar whose nets are not the identity (random heads and tables), so every path matters."""
    cfg = AvatarConfig(audio_dim=ds.audio_dim, aus_names=ds.aus_names, sh_degree=1, num_face=300,
                       num_mouth=60, num_eyes=80, face_hidden=16, mouth_hidden=16, emotion_hidden=16,
                       face_encoder=SMALL_ENC, mouth_encoder=SMALL_ENC, emotion_encoder=SMALL_ENC,
                       with_emotion=True)
    t = np.load(ds.root / "camera.npz")["template"]
    av = build_avatar(cfg, t, (ds.image(0).numpy() * 255).astype(np.uint8), ds.w2c[0].numpy(),
                      ds.K.numpy(), seed=seed).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in (av.face_net, av.mouth_net, av.emotion_net):
            for p in net.head.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
            for p in net.encoder.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for gs in (av.face, av.mouth, av.eyes):
            gs.params["shN"].copy_(torch.randn(gs.params["shN"].shape, generator=g) * 0.2)
            gs.params["delta_n"].copy_(torch.randn(gs.params["delta_n"].shape, generator=g) * 0.1)
    return av


def _assert_same_image(a, b, name=""):
    """Equal up to float rounding of the deformation: the fast path folds the audio / AU codes into
    the head's weights, and the rasterizer's hard thresholds (alpha < 1/255 skipped, T <= 1e-4 stops)
    can turn a 1e-7 position difference into a visible one at a pixel or two of a frame."""
    d = (a - b).abs()
    assert float(d.max()) < 1e-3, (name, float(d.max()))
    assert float((d > 1e-5).float().mean()) < 2e-3, (name, int((d > 1e-5).sum()))


def _cond(ds, i=0, va=None):
    cond = frame_conditions(ds[i])
    cond.va = va
    return cond


@pytest.mark.parametrize("normals", [False, True])
def test_fast_path_equals_plain_render(toy, normals):
    av = _trained_looking_avatar(toy)
    for i, va in ((0, torch.tensor([0.7, -0.4])), (3, None), (4, torch.tensor([-0.9, 0.8]))):
        c = _cond(toy, i, va)
        for size in (48, 40):  # native and rescaled (background resized, K rescaled)
            fast = av.render_frame(c, size, image_size=toy.size, normals=normals)
            plain = av.render_frame(c, size, image_size=toy.size, normals=normals, fast=False)
            assert fast["rgb"].shape == (size, size, 3)
            for k in ("rgb", "alpha", "depth") + (("normal",) if normals else ()):
                _assert_same_image(fast[k], plain[k], k)
            assert (fast["normal"] is None) == (not normals)
        mouth_alpha = av.render(c, 48, image_size=toy.size)["mouth_alpha"].detach()
        assert float(mouth_alpha.max()) > 0.1  # the mouth-box path of the composite is exercised
    # no mouth drawn at all (every mouth Gaussian below the 1/255 alpha cutoff)
    with torch.no_grad():
        av.mouth.params["opacity_logit"].fill_(-20.0)
    c = _cond(toy, 1, torch.tensor([0.3, 0.3]))
    fast, plain = (av.render_frame(c, 48, image_size=toy.size, fast=f)["rgb"] for f in (True, False))
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)
    # the deformation really acts: the frames differ from each other and from undeformed Gaussians
    a = av.render_frame(_cond(toy, 0, torch.tensor([0.7, -0.4])), 48, image_size=toy.size)["rgb"]
    b = av.render_frame(_cond(toy, 0, None), 48, image_size=toy.size)["rgb"]
    assert (a - b).abs().max() > 1e-3


def test_cache_is_reused_and_invalidated(toy):
    av = _trained_looking_avatar(toy, seed=1)
    c = _cond(toy, 1, torch.tensor([0.2, 0.3]))
    first = av.prepare_inference()
    av.render_frame(c, 32, image_size=toy.size)
    assert av.prepare_inference() is first  # nothing changed: reused
    before = av.render_frame(c, 32, image_size=toy.size)["rgb"]
    with torch.no_grad():  # e.g. an optimiser step on a net weight
        av.face_net.head.output_layer.weight.mul_(2.0)
    assert av.prepare_inference() is not first
    after = av.render_frame(c, 32, image_size=toy.size)
    plain = av.render_frame(c, 32, image_size=toy.size, fast=False)
    assert (after["rgb"] - before).abs().max() > 1e-4
    torch.testing.assert_close(after["rgb"], plain["rgb"], rtol=0, atol=1e-5)
    # replacing a parameter (densify / prune / load) also invalidates it
    cache = av.prepare_inference()
    keep = torch.arange(len(av.face)) % 2 == 0
    av.face.params["means"] = torch.nn.Parameter(av.face.params["means"].detach()[keep])
    for k in ("quats", "log_scales", "opacity_logit", "sh0", "shN", "delta_n"):
        av.face.params[k] = torch.nn.Parameter(av.face.params[k].detach()[keep])
    assert av.prepare_inference() is not cache
    torch.testing.assert_close(av.render_frame(c, 32, image_size=toy.size)["rgb"],
                               av.render_frame(c, 32, image_size=toy.size, fast=False)["rgb"],
                               rtol=0, atol=1e-5)
    # swapping a net (e.g. dropping the emotion branch) too
    cache = av.prepare_inference()
    av.emotion_net = None
    assert av.prepare_inference() is not cache
    torch.testing.assert_close(av.render_frame(c, 32, image_size=toy.size)["rgb"],
                               av.render_frame(c, 32, image_size=toy.size, fast=False)["rgb"],
                               rtol=0, atol=1e-5)
    # .data edits bypass version counters: force=True rebuilds
    cache = av.prepare_inference()
    assert av.prepare_inference(force=True) is not cache


def test_timings_and_no_autograd(toy):
    av = _trained_looking_avatar(toy, seed=2)
    t: dict = {}
    out = av.render_frame(_cond(toy, 2, torch.tensor([0.1, 0.1])), 32, image_size=toy.size, timings=t)
    assert set(t) == {"deform", "raster_face", "raster_mouth", "composite"}
    assert all(v >= 0 for v in t.values())
    assert not out["rgb"].requires_grad and 0 <= float(out["rgb"].min()) <= float(out["rgb"].max()) <= 1
    # training mode does not matter for the fast path (no dropout / batch norm), grads stay untouched
    av.train()
    av.render_frame(_cond(toy, 2), 32, image_size=toy.size)
    assert all(p.grad is None for p in av.parameters())


def test_fast_path_with_eyeballs_in_view(toy):
    """A see-through face shows the eyeballs (rasterized with it), as in a frame whose lids the
    emotion branch raised; the fast path still equals the plain render, and an avatar without
    eyeballs renders too."""
    av = _trained_looking_avatar(toy, seed=4)
    with torch.no_grad():
        av.face.params["opacity_logit"].sub_(4.0)
        av.eyes.params["sh0"].fill_(2.0)  # bright: their effect is unmistakable
    c = _cond(toy, 1, torch.tensor([0.5, 0.5]))
    for normals in (False, True):
        fast = av.render_frame(c, 48, image_size=toy.size, normals=normals)
        plain = av.render_frame(c, 48, image_size=toy.size, normals=normals, fast=False)
        for k in ("rgb", "alpha", "depth") + (("normal",) if normals else ()):
            _assert_same_image(fast[k], plain[k], k)
    eyes = av.eyes
    av.eyes = None
    without = av.render_frame(c, 48, image_size=toy.size)
    torch.testing.assert_close(without["rgb"], av.render_frame(c, 48, image_size=toy.size, fast=False)["rgb"],
                               rtol=0, atol=1e-5)
    av.eyes = eyes
    assert float((av.render_frame(c, 48, image_size=toy.size)["rgb"] - without["rgb"]).abs().max()) > 0.2


def test_tune_allocator_runs():
    from emogs.avatar.inference import tune_allocator

    assert tune_allocator() in (True, False)  # True on glibc; harmless to call twice
    assert tune_allocator() in (True, False)


def test_avatar_without_networks(toy):
    from emogs.avatar import Avatar

    av = _trained_looking_avatar(toy, seed=3)
    bare = Avatar(av.config, av.face, av.mouth)  # no deform nets, no emotion branch
    c = _cond(toy, 0, torch.tensor([0.1, 0.2]))
    fast, plain = (bare.render_frame(c, 48, image_size=toy.size, fast=f)["rgb"] for f in (True, False))
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)
    assert fast.abs().max() > 0


def test_emotion_offsets_are_reused_only_while_va_is_unchanged(toy):
    av = _trained_looking_avatar(toy)
    a, b = torch.tensor([0.6, 0.2]), torch.tensor([-0.5, 0.7])
    frames = []
    for va in (a, a, b, a):
        c = _cond(toy, 2, va)
        fast = av.render_frame(c, 48, image_size=toy.size)["rgb"]
        plain = av.render_frame(c, 48, image_size=toy.size, fast=False)["rgb"]
        _assert_same_image(fast, plain)
        frames.append(fast)
    assert torch.equal(frames[0], frames[1]) and torch.equal(frames[0], frames[3])
    assert (frames[0] - frames[2]).abs().max() > 1e-3  # another V/A: recomputed, not reused
