import numpy as np
import pytest
import torch

from emogs.avatar import AvatarConfig, build_avatar
from emogs.avatar.drive import (
    AudioExtractorError,
    DriveOptions,
    drive_conditions,
    frame_conditions,
    pingpong,
    silence_features,
    speech_features,
)
from emogs.data import PersonDataset
from emogs.data.synthetic import write_toy_dataset
from emogs.fields import TriplaneConfig

SMALL_ENC = TriplaneConfig(num_levels=4, log2_table_size=10, base_resolution=4, finest_resolution=16)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = write_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", num_frames=12, size=32, audio_dim=8)
    return PersonDataset(root, split="train")


def _avatar(ds, with_emotion=False):
    cfg = AvatarConfig(audio_dim=ds.audio_dim, aus_names=ds.aus_names, sh_degree=1, num_face=150,
                       num_mouth=30,
                       face_hidden=16, mouth_hidden=16, emotion_hidden=16, face_encoder=SMALL_ENC,
                       mouth_encoder=SMALL_ENC, emotion_encoder=SMALL_ENC, with_emotion=with_emotion)
    t = np.load(ds.root / "camera.npz")["template"]
    img = (ds.image(0).numpy() * 255).astype(np.uint8)
    return build_avatar(cfg, t, img, ds.w2c[0].numpy(), ds.K.numpy())


def _cond(ds, i=0, va=None):
    cond = frame_conditions(ds[i])
    cond.va = va
    return cond


def test_render_shapes_composite_and_gradients(toy):
    av = _avatar(toy, with_emotion=True)
    out = av.render(_cond(toy), 32, image_size=32)
    for k in ("rgb", "normal"):
        assert out[k].shape == (32, 32, 3)
    assert out["alpha"].shape == (32, 32, 1)
    # the face is drawn from the mesh: it covers the centre, not the corners
    fa = out["face_alpha"].detach()
    assert float(fa[16, 16]) > 0.5 and float(fa[0, 0]) < 0.1
    # where nothing is drawn, the composite is the torso / background plate
    bg = toy[0].torso_background
    assert torch.allclose(out["rgb"][0, 0], bg[0, 0], atol=0.05)
    # initial colours come from the frame: the render already resembles it
    err_init = (out["rgb"].detach() - toy[0].image).abs().mean()
    assert float(err_init) < float((bg - toy[0].image).abs().mean())
    out["rgb"].sum().backward()
    assert av.face.params["means"].grad.abs().sum() > 0
    assert av.mouth.params["sh0"].grad is not None
    # zero-initialised heads receive gradient through the deformation
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in av.face_net.parameters())
    n = out["normal"][16, 16].detach()
    assert abs(float(n.norm()) - 1) < 1e-3 and float(n[2]) < 0  # facing the camera (-z)


def test_render_frame_is_stateless_and_deform_flags(toy):
    av = _avatar(toy, with_emotion=True)
    c = _cond(toy)
    a = av.render_frame(c, 24, image_size=32)
    assert a["rgb"].shape == (24, 24, 3) and not a["rgb"].requires_grad
    b = av.render_frame(c, 24, image_size=32)
    assert torch.equal(a["rgb"], b["rgb"])
    # zero-init networks: deformation and emotion are identities until trained
    c_va = _cond(toy, va=torch.tensor([0.7, 0.3]))
    assert torch.allclose(av.render_frame(c_va, 24, image_size=32)["rgb"], a["rgb"], atol=1e-6)
    with torch.no_grad():
        for p in av.emotion_net.head.parameters():
            p.normal_(0, 0.5)
    moved = av.render_frame(c_va, 24, image_size=32)["rgb"]
    assert not torch.allclose(moved, a["rgb"], atol=1e-4)
    # without V/A the emotion branch is skipped
    assert torch.allclose(av.render_frame(c, 24, image_size=32)["rgb"], a["rgb"], atol=1e-6)


def test_drive_conditions(toy):
    assert [pingpong(i, 3) for i in range(6)] == [0, 1, 2, 1, 0, 1]
    feats = np.random.rand(5, toy.audio_dim).astype(np.float32)
    opts = DriveOptions(blink="none", au_overrides={"AU01": 3.0})
    conds = list(drive_conditions(toy, feats, 4, None, opts))
    assert len(conds) == 5
    assert conds[0].audio.shape == (9, toy.audio_dim)
    assert torch.equal(conds[0].audio[0], torch.from_numpy(feats[0]))  # edge padded
    assert float(conds[2].aus[toy.aus_names.index("AU45")]) == 0.0
    assert float(conds[2].aus[toy.aus_names.index("AU01")]) == 3.0
    assert torch.equal(conds[1].w2c, toy.w2c[1])
    fixed = list(drive_conditions(toy, feats, 4, np.zeros((5, 2)), DriveOptions(pose="fixed", fixed_frame=2)))
    assert all(torch.equal(c.w2c, toy.w2c[2]) for c in fixed) and fixed[0].va is not None
    with pytest.raises(ValueError, match="AU override"):
        list(drive_conditions(toy, feats, 4, None, DriveOptions(au_overrides={"AU99": 1})))


def test_inference_caches_the_canonical_encoding(toy):
    av = _avatar(toy, with_emotion=True).eval()
    enc = av.face_net.encoder
    calls = {"n": 0}
    inner = enc.forward.forward

    def counting(xyz):
        calls["n"] += 1
        return inner(xyz)

    enc.forward.forward = counting
    c = _cond(toy, va=torch.tensor([0.5, 0.5]))
    a = av.render_frame(c, 16, image_size=32)
    av.render_frame(_cond(toy, 3, va=torch.tensor([-0.5, 0.1])), 16, image_size=32)
    assert calls["n"] == 1  # new audio / AUs / V/A reuse the encoding of the canonical positions
    with torch.no_grad():
        av.face.params["means"][0, 0] += 0.01
    av.render_frame(c, 16, image_size=32)
    assert calls["n"] == 2  # moved Gaussians: recomputed
    with torch.no_grad():
        av.face.params["means"][0, 0] -= 0.01
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.0)  # a weight update (version bump) also invalidates
    assert torch.allclose(av.render_frame(c, 16, image_size=32)["rgb"], a["rgb"], atol=1e-6)
    assert calls["n"] == 3
    av.train()
    av.render(c, 16, image_size=32)["rgb"].sum().backward()  # training always recomputes
    assert calls["n"] == 4


def test_emotion_flow_is_the_projected_motion_of_the_branch(toy):
    """A branch that shifts every face Gaussian by the same offset: each covered pixel of the flow
    image, divided by alpha, is a convex combination of the per-Gaussian image motions
    (projection with the offset - without), at the render size; no branch, no flow."""
    from emogs.avatar.avatar import project_points, scale_intrinsics
    from emogs.fields.deform import DeformOutput

    av = _avatar(toy, with_emotion=True)
    av.eyes = None  # still eyeballs, rasterized with the face, add zero-motion terms to the blend
    shift = torch.tensor([0.004, -0.002, 0.0])
    av.emotion_net.forward = lambda xyz, va, spatial=None: DeformOutput(
        d_xyz=shift.expand_as(xyz) * (1 + va.sum()), d_rot=None, d_scale=None)
    cond = _cond(toy, va=torch.tensor([0.5, 0.0]))
    out = av.render(cond, 64, image_size=32, emotion_flow=True)
    assert out["emotion_flow"].shape == (64, 64, 2)
    # the per-Gaussian motions at 64 px (K rescaled from the dataset's 32)
    fm = av._deformed(av.face, av.face_net, (cond.audio, cond.aus), None)[0].detach()
    R, t, K = cond.w2c[:3, :3], cond.w2c[:3, 3], scale_intrinsics(cond.K, 2.0)
    per_g = project_points(fm + 1.5 * shift, R, t, K) - project_points(fm, R, t, K)
    a = out["face_alpha"].detach()[..., 0]
    covered = a > 0.5
    assert covered.sum() > 100
    ratio = out["emotion_flow"].detach()[covered] / a[covered, None]
    lo, hi = per_g.min(0).values, per_g.max(0).values
    assert (ratio >= lo - 1e-4).all() and (ratio <= hi + 1e-4).all()
    assert float(per_g[:, 0].mean()) > 0.5  # a visible motion: ~1 px or more to the right
    # the flow is differentiable w.r.t. the branch's offsets (what the flow loss trains)
    d = torch.zeros(1, 3, requires_grad=True)
    av.emotion_net.forward = lambda xyz, va, spatial=None: DeformOutput(
        d_xyz=d.expand_as(xyz), d_rot=None, d_scale=None)
    av.render(cond, 64, image_size=32, emotion_flow=True)["emotion_flow"][..., 0].sum().backward()
    assert float(d.grad[0, 0]) > 0
    # emotion off: zero flow
    off = av.render(cond, 64, image_size=32, emotion=False, emotion_flow=True)["emotion_flow"].detach()
    assert float(off.abs().max()) == 0.0


def test_speech_features_needs_a_runnable_extractor():
    cfg = AvatarConfig(audio_extractor="hubert", audio_dim=1024)
    with pytest.raises(AudioExtractorError, match="'hubert' cannot be run here"):
        speech_features(np.zeros(16000, np.float32), 25.0, cfg)
    assert silence_features(cfg) is None
    cfg = AvatarConfig(audio_extractor="logmel", audio_dim=80)
    assert speech_features(np.zeros(16000, np.float32), 25.0, cfg).shape == (25, 80)
    assert silence_features(cfg).shape == (80,)
    cfg = AvatarConfig(audio_extractor="logmel", audio_dim=7)
    with pytest.raises(AudioExtractorError, match="80 dims, the avatar expects 7"):
        speech_features(np.zeros(16000, np.float32), 25.0, cfg)
