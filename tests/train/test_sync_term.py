"""L_sync: SyncNet's towers on five rendered training frames (emogs.train.sync_term)."""

import numpy as np
import pytest
import torch

from emogs.data import PersonDataset
from emogs.data.synthetic import write_toy_dataset
from emogs.lipsync import SyncNet
from emogs.train import Trainer, config_from_dict
from emogs.train.sync_term import SyncNetLoss, SyncTerm


def _syncnet(seed=0):
    torch.manual_seed(seed)
    return SyncNet().eval()


def test_sync_term_trains_the_audio_networks(speaking_toy):
    """The term's gradient reaches the manipulation networks, and following it lowers the term."""
    root, avatar = speaking_toy
    ds = PersonDataset(root)
    term = SyncTerm(SyncNetLoss(_syncnet(), ds), ds, size=16)
    assert term.starts.max() + 5 <= len(term.dataset)
    params = [p for p in avatar.face_net.parameters()] + [p for p in avatar.mouth_net.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    values = []
    for _ in range(12):
        opt.zero_grad()
        loss = term(avatar, torch.Generator().manual_seed(5))  # the same window every time
        loss.backward()
        if not values:
            assert sum(float(p.grad.abs().sum()) for p in params if p.grad is not None) > 0
        opt.step()
        values.append(float(loss.detach()))
    assert np.isfinite(values).all()
    assert min(values[-3:]) < 0.9 * values[0], values
    assert not any(p.requires_grad for p in term.judge.net.parameters())  # the judge stays frozen


def test_trainer_adds_l_sync_after_the_canonical_stage(speaking_toy, tiny_train_config, tmp_path):
    root, _ = speaking_toy
    stages = {"canonical": 2, "networks": 4, "fuse": 0, "emotion": 0}
    cfg = config_from_dict({**tiny_train_config, "stages": stages, "sync_every": 2})
    seen = {}
    Trainer(cfg, PersonDataset(root), tmp_path / "fit", progress=False, sync_net=_syncnet(),
            step_callback=lambda step, parts: seen.setdefault(step, parts)).run()
    with_sync = sorted(s for s, p in seen.items() if p and "sync" in p)
    # global steps 2 and 4 (the networks stage, every 2nd); the callback counts steps done (1-based)
    assert with_sync == [3, 5] and all(np.isfinite(seen[s]["sync"]) for s in with_sync)
    log = (tmp_path / "fit" / "train.log").read_text()
    assert '"sync_mean"' in log  # the log lines carry the mean L_sync since the last line


def test_sync_term_needs_the_videos_audio(tiny_train_config, tmp_path):
    root = write_toy_dataset(tmp_path / "ds", num_frames=12, size=16, audio_dim=8)
    with pytest.raises(ValueError, match="audio.wav"):
        SyncNetLoss(_syncnet(), PersonDataset(root))
    cfg = config_from_dict({**tiny_train_config, "syncnet_weights": str(tmp_path / "none.model")})
    with pytest.raises(FileNotFoundError, match="SyncNet weights"):
        Trainer(cfg, PersonDataset(root), tmp_path / "fit", progress=False)


def test_tts_windows_drive_the_renders_with_tts_speech(speaking_toy):
    """tts_fraction 1: every window renders a training frame's pose speaking the TTS features, and
    L_sync of it trains the audio networks."""
    from emogs.data.tts_bank import TTSBank

    root, avatar = speaking_toy
    ds = PersonDataset(root)
    rng = np.random.default_rng(0)
    bank = TTSBank(rng.standard_normal((40, ds.audio_dim)).astype(np.float32), np.array([[0, 18], [18, 22]]),
                   (0.1 * rng.standard_normal(40 * 640)).astype(np.float32))
    term = SyncTerm(SyncNetLoss(_syncnet(), ds, bank), ds, size=16, tts=bank, tts_fraction=1.0)
    seen = []
    render = avatar.render

    def spy(cond, *a, **kw):
        seen.append(cond.audio.clone())
        return render(cond, *a, **kw)

    avatar.render = spy
    try:
        loss = term(avatar, torch.Generator().manual_seed(3))
    finally:
        del avatar.render
    assert len(seen) == 5 and term.size == 16
    first = next(k for k in term.tts_starts if np.allclose(bank.audio_window(int(k), 4), seen[0].numpy()))
    for k in range(5):
        assert torch.equal(seen[k], torch.from_numpy(bank.audio_window(int(first) + k, 4)))
    loss.backward()
    assert sum(float(p.grad.abs().sum()) for p in avatar.face_net.parameters() if p.grad is not None) > 0
    avatar.zero_grad(set_to_none=True)


def test_real_windows_render_five_consecutive_training_frames(speaking_toy):
    root, avatar = speaking_toy
    ds = PersonDataset(root)
    term = SyncTerm(SyncNetLoss(_syncnet(), ds), ds, size=16)
    seen = []
    render = avatar.render
    avatar.render = lambda cond, *a, **kw: seen.append(cond) or render(cond, *a, **kw)
    try:
        with torch.no_grad():
            term(avatar, torch.Generator().manual_seed(4))
    finally:
        del avatar.render
    first = next(t for t in range(len(ds.w2c)) if torch.equal(ds.w2c[t], seen[0].w2c))
    for k, cond in enumerate(seen):
        s = ds[int(np.searchsorted(ds.frame_indices, first + k))]  # what the trainer's own sample holds
        assert s.index == first + k
        assert torch.equal(cond.w2c, s.w2c) and torch.equal(cond.audio, s.audio)
        assert torch.equal(cond.aus, s.aus) and torch.equal(cond.background, s.torso_background)
        assert cond.va is None


def test_trainer_refuses_a_judge_it_does_not_have(speaking_toy, tiny_train_config, tmp_path):
    root, _ = speaking_toy
    cases = (("syncnet", "syncnet_weights"), ("person", "auto|syncnet|none"))
    for judge, msg in cases:
        cfg = config_from_dict({**tiny_train_config, "sync_judge": judge})
        with pytest.raises(ValueError, match=msg):
            Trainer(cfg, PersonDataset(root), tmp_path / judge, progress=False)
