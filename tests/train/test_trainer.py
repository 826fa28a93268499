import json

import numpy as np
import pytest
import torch

from emogs.avatar.drive import frame_conditions
from emogs.avatar.store import avatar_tensors, load_avatar
from emogs.data import PersonDataset
from emogs.data.emotion_frames import EmotionFrames
from emogs.data.synthetic import write_toy_dataset
from emogs.eval import evaluate_avatar
from emogs.train import Trainer, TrainingDiverged, config_from_dict
from emogs.train.checkpoint import latest_checkpoint

TINY_MODEL = {"sh_degree": 1, "num_face": 120, "num_mouth": 20, "face_hidden": 16, "mouth_hidden": 16,
              "emotion_hidden": 16, "hash_levels": 4, "hash_log2_table_size": 10,
              "face_finest_resolution": 16, "mouth_finest_resolution": 16}


def _cfg(stages, size=16, **kw):
    d = {"train_size": size, "stages": stages, "model": dict(TINY_MODEL),
         "densify": {"refine_start": 4, "refine_every": 5, "refine_stop": 1000, "reset_every": 0,
                     "max_face": 300, "max_mouth": 60},
         "lr": {"means": 1e-3, "means_final": 1e-4}, "checkpoint_every": 10, "log_every": 10}
    d.update(kw)
    return config_from_dict(d)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", num_frames=16, size=16, audio_dim=8,
                             with_emotion=True)


def _cond(s):
    return frame_conditions(s)


class _Interrupt(Exception):
    pass


def test_resume_after_interrupt_matches_uninterrupted(toy, tmp_path):
    stages = {"canonical": 10, "networks": 10, "fuse": 6, "emotion": 0}
    ds = PersonDataset(toy)
    full = Trainer(_cfg(stages), ds, tmp_path / "full", progress=False).run()

    def crash(step, parts):
        if step == 17:
            raise _Interrupt  # "killed" after the step-10 checkpoint, mid networks stage

    with pytest.raises(_Interrupt):
        Trainer(_cfg(stages), ds, tmp_path / "cut", progress=False, step_callback=crash).run()
    assert latest_checkpoint(tmp_path / "cut" / "checkpoints").name == "step_0000010"
    tr = Trainer(_cfg(stages), ds, tmp_path / "cut", progress=False)
    resumed = tr.run(resume=True)
    assert "resumed from" in (tmp_path / "cut" / "train.log").read_text()
    a, b = avatar_tensors(full), avatar_tensors(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4), k
    # a config change is refused on resume
    other = _cfg(stages, model={**TINY_MODEL, "num_face": 99})
    with pytest.raises(ValueError, match="another model"):
        Trainer(other, ds, tmp_path / "cut", progress=False).resume()


def test_nan_guard_skips_restores_and_logs(toy, tmp_path, monkeypatch):
    ds = PersonDataset(toy)
    tr = Trainer(_cfg({"canonical": 12, "networks": 0, "fuse": 0, "emotion": 0}), ds, tmp_path / "a",
                 progress=False)
    orig = Trainer.compute_loss
    calls = {"n": 0}

    def flaky(self, stage, sample, use_va, synthetic=False):
        loss, parts, out = orig(self, stage, sample, use_va, synthetic)
        calls["n"] += 1
        if calls["n"] == 7:
            loss = loss * float("nan")
        return loss, parts, out

    monkeypatch.setattr(Trainer, "compute_loss", flaky)
    av = tr.run()
    guard = [e for e in tr.events if e["kind"] == "guard"]
    assert len(guard) == 1 and "nan" in guard[0]["message"].lower()
    assert "restored" in (tmp_path / "a" / "train.log").read_text()
    assert all(torch.isfinite(v).all() for v in avatar_tensors(av).values())
    assert tr.step == 12  # the bad step was skipped, the schedule is complete

    def always_nan(self, stage, sample, use_va, synthetic=False):
        loss, parts, out = orig(self, stage, sample, use_va, synthetic)
        return loss * float("nan"), parts, out

    monkeypatch.setattr(Trainer, "compute_loss", always_nan)
    cfg = _cfg({"canonical": 5, "networks": 0, "fuse": 0, "emotion": 0})
    cfg.guard.max_consecutive = 3
    with pytest.raises(TrainingDiverged, match="consecutive bad steps"):
        Trainer(cfg, ds, tmp_path / "b", progress=False).run()


def test_emotion_stage_trains_only_the_emotion_branch_and_the_eyeball_colours(toy, tmp_path):
    ds = PersonDataset(toy, load_emotion=True)
    em = EmotionFrames(ds)
    assert len(em) > 0 and em[0].va.shape == (2,)
    stages = {"canonical": 4, "networks": 0, "fuse": 0, "emotion": 8}
    tr = Trainer(_cfg(stages), ds, tmp_path / "e", emotion_frames=em, progress=False)
    snap = {}

    def grab(step, parts):
        if step == 4:
            snap.update({k: v.clone() for k, v in avatar_tensors(tr.avatar).items()})

    tr.step_callback = grab
    fresh = {k: v.clone() for k, v in avatar_tensors(tr._fresh_avatar()).items() if k.startswith("eyes.")}
    av = tr.run()
    assert av.emotion_net is not None
    after = avatar_tensors(av)
    changed = [k for k in snap if not torch.equal(snap[k], after[k])]
    assert any(k.startswith("emotion_net.") for k in changed)
    # the eyeballs: placed and painted, opaque; only their colours learn, and only in this stage
    assert all(k.startswith("emotion_net.") or k in ("eyes.sh0", "eyes.shN") for k in changed), changed
    assert "eyes.sh0" in changed
    assert all(torch.equal(snap[k], fresh[k]) for k in fresh)  # untouched by the canonical stage
    # model.eye_training "all": every eyeball parameter trains from the first stage on
    cfg = _cfg({"canonical": 4, "networks": 0, "fuse": 0, "emotion": 0})
    cfg.model.eye_training = "all"
    tr_all = Trainer(cfg, ds, tmp_path / "all", progress=False)
    moved = avatar_tensors(tr_all.run())
    assert all(not torch.equal(moved[k], fresh[k]) for k in ("eyes.means", "eyes.opacity_logit", "eyes.sh0"))
    cfg.model.eye_training = "none"
    with pytest.raises(ValueError, match="eye_training"):
        Trainer(cfg, ds, tmp_path / "bad", progress=False)
    # without emotion frames the stage is dropped
    tr2 = Trainer(_cfg(stages), PersonDataset(toy), tmp_path / "n", progress=False)
    assert [s for s, _ in tr2.plan] == ["canonical"] and not tr2.with_emotion


def test_avatar_folder_roundtrip(toy, tmp_path):
    ds = PersonDataset(toy)
    av = Trainer(_cfg({"canonical": 3, "networks": 3, "fuse": 0, "emotion": 0}), ds, tmp_path / "av",
                 progress=False).run()
    meta = json.loads((tmp_path / "av" / "avatar.json").read_text())
    assert meta["dataset"] == str(toy.resolve()) and meta["train"]["steps"] == 6
    loaded, _ = load_avatar(tmp_path / "av")
    c = _cond(ds[0])
    assert torch.allclose(av.render_frame(c, 16, image_size=16)["rgb"],
                          loaded.render_frame(c, 16, image_size=16)["rgb"], atol=1e-6)
    assert loaded.eyes is not None and torch.equal(loaded.eyes.means, av.eyes.means)
    with pytest.raises(FileNotFoundError, match="not an emogs avatar"):
        load_avatar(tmp_path)
    # an avatar without eyeballs (fitted before emogs had them, or model.num_eyes 0) loads without
    from emogs.avatar.store import save_avatar

    av.eyes = None
    save_avatar(av, tmp_path / "no_eyes")
    bare, _ = load_avatar(tmp_path / "no_eyes")
    assert bare.eyes is None
    assert torch.allclose(av.render_frame(c, 16, image_size=16)["rgb"],
                          bare.render_frame(c, 16, image_size=16)["rgb"], atol=1e-6)


@pytest.mark.slow
def test_fit_recovers_the_toy_head(tmp_path):
    """End to end: a few hundred steps on a 24x24 toy clip beat a mean-colour baseline clearly."""
    root = write_toy_dataset(tmp_path / "ds", num_frames=24, size=24, audio_dim=8)
    ds = PersonDataset(root)
    cfg = _cfg({"canonical": 100, "networks": 80, "fuse": 40, "emotion": 0}, size=24,
               model={**TINY_MODEL, "num_face": 200, "num_mouth": 30},
               densify={"refine_start": 40, "refine_every": 40, "refine_stop": 160, "reset_every": 0,
                        "max_face": 400, "max_mouth": 60}, checkpoint_every=1000)
    av = Trainer(cfg, ds, tmp_path / "fit", progress=False).run()
    val = PersonDataset(root, split="val")
    res = evaluate_avatar(av, val, detect=lambda rgb: None, fps_frames=2)
    imgs = np.stack([ds.image(int(t)).numpy() for t in ds.frame_indices])
    mean_col = imgs.mean((0, 1, 2))
    mse = np.mean([((val[i].image.numpy() - mean_col) ** 2).mean() for i in range(len(val))])
    baseline = -10 * np.log10(mse)
    assert res["psnr"] > baseline + 8.0, (res["psnr"], baseline)
    assert res["lmd"]["computed"] is False and "landmark" in res["lmd"]["reason"]
    assert res["fps"] > 0


def test_flow_loss_teaches_the_emotion_branch_a_va_dependent_motion(tmp_path):
    """The toy edit shifts the face right by 1.5 px x valence (emotion/flow.npy): with the flow loss
    the branch learns to move the face right for positive and left for negative valence."""
    root = write_toy_dataset(tmp_path / "ds", num_frames=16, size=32, audio_dim=8, with_emotion=True)
    ds = PersonDataset(root, load_emotion=True)
    em = EmotionFrames(ds)
    assert em[0].emotion_flow.shape == (8, 8, 2)
    seen = []

    def flow_after(w: float, steps: int = 150):
        cfg = _cfg({"canonical": 4, "networks": 0, "fuse": 0, "emotion": steps}, size=32,
                   loss={"emotion_flow": w}, emotion_real_fraction=0.0)
        tr = Trainer(cfg, ds, tmp_path / f"w{w}", emotion_frames=em, progress=False)
        tr.step_callback = lambda step, parts: seen.append(parts) if parts else None
        av = tr.run()
        out = []
        for v in (0.8, -0.8):
            c = frame_conditions(ds[0])
            c.va = torch.tensor([v, 0.0])
            with torch.no_grad():
                r = av.render(c, 32, image_size=32, emotion_flow=True)
            a = r["face_alpha"][..., 0]
            out.append(float((r["emotion_flow"][..., 0] * a).sum() / a.sum()))  # mean x motion over the face
        return out

    right, left = flow_after(2.0)
    assert any("flow_px" in p for p in seen)
    assert right > 0.4 and left < -0.4, (right, left)  # target +-1.2 px
    right0, left0 = flow_after(0.0)  # without the flow loss nothing asks for this motion
    assert abs(right0) < 0.25 and abs(left0) < 0.25, (right0, left0)


def test_guard_keeps_a_median_per_kind_of_step():
    """A new kind of step (the emotion stage's synthetic frames, whose flow term makes the loss ~10x
    the real frames') is not an explosion; a 10x jump within one kind is."""
    from emogs.train import NanGuard

    g = NanGuard(factor=10.0, warmup=5)
    for _ in range(30):
        g.accept(0.02, "fuse/real")
    assert g.check(0.3, kind="emotion/synthetic") is None  # its own warm-up
    for _ in range(5):
        g.accept(0.3, "emotion/synthetic")
    assert g.check(0.5, kind="emotion/synthetic") is None
    assert "exploded" in g.check(0.3, kind="fuse/real")
    assert "exploded" in g.check(3.5, kind="emotion/synthetic")
    assert g.check(float("nan"), kind="x") == "loss is nan"
    g2 = NanGuard(factor=10.0, warmup=5)
    g2.load_state(g.state())
    assert "exploded" in g2.check(0.3, kind="fuse/real")
    g2.load_state([0.1, 0.2])  # an old checkpoint's flat list: ignored (re-warms)
