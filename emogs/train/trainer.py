"""The training loop: stages canonical -> networks -> fuse -> emotion, checkpoints, resume, NaN guard.

    trainer = Trainer(load_config("quick"), PersonDataset(root, "train", load_emotion=True), out_dir)
    avatar = trainer.run(resume=True)

One frame is sampled per step from the memory-mapped dataset (memory does not grow with the video
length); the frame of step s depends only on (seed, s), so a resumed run sees the same frames as
an uninterrupted one.

Stages (global step counter; `cfg.stages` gives the steps of each):
- canonical: Gaussians only (no deformation), L_rgb + L_normal + alpha-mask terms; densification
  (face and mouth; the eyeballs keep their number).
- networks: the audio/AU manipulation networks join (face + mouth), same losses + offset penalty.
- fuse: everything fine-tuned at `lr.fuse_scale` x the learning rates; LPIPS when weights exist.
- emotion: the emotion branch and the eyeballs (what raised lids uncover is only seen here), on the
  synthetic emotional frames with their target V/A, mixed with real frames at their estimated V/A
  (`emotion_real_fraction`) to keep neutral behaviour.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .. import losses
from ..avatar import Avatar, AvatarConfig, build_avatar
from ..avatar.store import avatar_from_tensors, avatar_tensors, save_avatar
from ..fields import TriplaneConfig
from ..gaussians import PARAM_KEYS, DensifyStrategy, make_optimizer
from .checkpoint import (
    latest_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    read_checkpoint,
    write_checkpoint,
)
from .config import STAGES, TrainConfig
from .targets import make_target

log = logging.getLogger("emogs.train")


class TrainingDiverged(RuntimeError):
    """Too many consecutive bad steps (NaN / exploding loss) even after restoring good states."""


def avatar_config_for(cfg: TrainConfig, dataset, with_emotion: bool) -> AvatarConfig:
    """The AvatarConfig of a training run on `dataset` (sizes from cfg.model, dims from the data)."""
    m = cfg.model
    af = dataset.manifest.get("audio_features", {})
    return AvatarConfig(
        audio_dim=int(dataset.audio_dim),
        aus_names=list(dataset.aus_names),
        sh_degree=m.sh_degree,
        num_face=m.num_face,
        num_mouth=m.num_mouth,
        num_eyes=m.num_eyes,
        face_shell_fraction=m.face_shell_fraction,
        face_hidden=m.face_hidden,
        mouth_hidden=m.mouth_hidden,
        emotion_hidden=m.emotion_hidden,
        face_encoder=TriplaneConfig(num_levels=m.hash_levels, log2_table_size=m.hash_log2_table_size,
                                   base_resolution=16, finest_resolution=m.face_finest_resolution),
        mouth_encoder=TriplaneConfig(num_levels=m.hash_levels, log2_table_size=m.hash_log2_table_size,
                                    base_resolution=min(64, m.mouth_finest_resolution),
                                    finest_resolution=m.mouth_finest_resolution),
        emotion_encoder=TriplaneConfig(num_levels=m.hash_levels,
                                      log2_table_size=min(15, m.hash_log2_table_size),
                                      base_resolution=16, finest_resolution=m.emotion_finest_resolution),
        with_emotion=with_emotion,
        emotion_embedding=m.emotion_embedding,
        # the expression the synthetic frames' targets are relative to (the emotion stage's record)
        emotion_rest_va=dataset.manifest.get("stages", {}).get("emotion", {}).get("rest_va"),
        audio_window=int(getattr(dataset, "audio_window_size", 4)),
        audio_extractor=str(af.get("extractor", "")),
        fps=float(dataset.fps),
        backend=m.backend,
    )


class NanGuard:
    """Flags a loss that is not finite or exceeds `factor` x the median of recent good losses.

    The median is kept per `kind` of step (the trainer passes "stage/real" or "stage/synthetic"): a
    new stage or a new kind of sample has losses of another scale (e.g. the emotion stage's flow
    term on synthetic frames is ~10x the real frames' RGB loss), which is not an explosion. Each
    kind has its own `warmup` before it is checked.
    """

    def __init__(self, factor: float = 10.0, warmup: int = 20, window: int = 100):
        self.factor, self.warmup, self.window = factor, warmup, window
        self.history: dict[str, deque[float]] = {}

    def check(self, loss: float, grads_finite: bool = True, kind: str = "") -> str | None:
        if not math.isfinite(loss):
            return f"loss is {loss}"
        if not grads_finite:
            return "a gradient is NaN/inf"
        hist = self.history.get(kind, ())
        if len(hist) >= self.warmup:
            med = float(np.median(hist))
            if loss > self.factor * med:
                return (f"loss {loss:.4g} exploded (> {self.factor:g} x running median {med:.4g} of "
                        f"{kind or 'steps'})")
        return None

    def accept(self, loss: float, kind: str = "") -> None:
        self.history.setdefault(kind, deque(maxlen=self.window)).append(loss)

    def state(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self.history.items()}

    def load_state(self, state) -> None:
        """From `state()`; a plain list (checkpoints before per-kind histories) is dropped (re-warms)."""
        if isinstance(state, dict):
            for k, v in state.items():
                self.history[k] = deque(v, maxlen=self.window)


def _split_net_params(*nets) -> tuple[list, list]:
    grid, mlp = [], []
    for net in nets:
        if net is None:
            continue
        for name, p in net.named_parameters():
            (grid if "encoder" in name else mlp).append(p)
    return grid, mlp


class Trainer:
    """Fits an Avatar to a PersonDataset. See the module docstring for the stages."""

    def __init__(
        self,
        cfg: TrainConfig,
        dataset,
        out_dir: str | Path,
        emotion_frames=None,
        progress: bool = True,
        sync_net=None,
        step_callback: Callable[[int, dict], None] | None = None,
    ):
        if len(dataset) == 0:
            raise ValueError("the training split is empty; check the dataset's manifest 'split'.")
        self.cfg = cfg
        self.dataset = dataset
        self.emotion_frames = emotion_frames
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.progress = progress
        self.step_callback = step_callback
        if cfg.model.eye_training not in ("colours", "all"):
            raise ValueError(f"model.eye_training must be 'colours' or 'all', got {cfg.model.eye_training!r}")
        mode = cfg.model.with_emotion
        if mode not in ("auto", "on", "off"):
            raise ValueError(f"model.with_emotion must be auto|on|off, got {mode!r}")
        has_em = emotion_frames is not None and len(emotion_frames) > 0
        if mode == "on" and not has_em:
            raise ValueError(
                "model.with_emotion is 'on' but the dataset has no emotion/ frames; generate them with "
                "`python -m preprocess VIDEO DATASET --stages emotion` or set it to 'auto'.")
        self.with_emotion = has_em and mode != "off" and cfg.stages.get("emotion", 0) > 0
        self.plan = [(s, int(cfg.stages.get(s, 0))) for s in STAGES
                     if cfg.stages.get(s, 0) > 0 and (s != "emotion" or self.with_emotion)]
        self.total_steps = sum(n for _, n in self.plan)
        self.avatar_cfg = avatar_config_for(cfg, dataset, self.with_emotion)
        self.lpips_model, self.lpips_status = losses.load_lpips(cfg.lpips_weights)
        self.sync_term = self._sync_term(sync_net)
        self.guard = NanGuard(cfg.guard.explode_factor, cfg.guard.warmup)
        d = cfg.densify
        common = dict(grow_grad2d=d.grow_grad2d, grow_scale3d=d.grow_scale3d, prune_opa=d.prune_opa,
                      prune_scale3d=d.prune_scale3d, refine_start=d.refine_start, refine_stop=d.refine_stop,
                      refine_every=d.refine_every, reset_every=d.reset_every)
        self.strategies = {"face": DensifyStrategy(max_gaussians=d.max_face, **common),
                           "mouth": DensifyStrategy(max_gaussians=d.max_mouth, **common)}
        self.step = 0
        self._consecutive_bad = 0
        self.events: list[dict] = []  # guard / densify events (also logged)
        self.avatar: Avatar | None = None

    # ------------------------------------------------------------------ model + optimizers
    def _template(self) -> np.ndarray:
        with np.load(self.dataset.root / "camera.npz") as cam:
            if "template" not in cam:
                raise ValueError(f"{self.dataset.root / 'camera.npz'} lacks 'template' (the tracked face "
                                 "mesh); rerun the preprocessing 'camera' stage.")
            return cam["template"].astype(np.float32)

    def _fresh_avatar(self) -> Avatar:
        from emogs.face.eye_layer import still_eyeballs

        t0 = int(self.dataset.frame_indices[0])
        img = (self.dataset.image(t0).numpy() * 255).astype(np.uint8)
        eye_img = (still_eyeballs(img, np.asarray(self.dataset.landmarks[t0]))
                   if self.avatar_cfg.num_eyes > 0 else None)
        return build_avatar(self.avatar_cfg, self._template(), img, self.dataset.w2c[t0].numpy(),
                            self.dataset.K.numpy(), seed=self.cfg.seed, eye_image=eye_img)

    def _setup(self, avatar: Avatar) -> None:
        self.avatar = avatar
        lrs = {k: getattr(self.cfg.lr, k) for k in PARAM_KEYS}
        self.opt_face = make_optimizer(avatar.face, lrs)
        self.opt_mouth = make_optimizer(avatar.mouth, lrs)
        self.opt_eyes = make_optimizer(avatar.eyes, lrs) if avatar.eyes is not None else None
        grid, mlp = _split_net_params(avatar.face_net, avatar.mouth_net)
        self.opt_nets = torch.optim.AdamW([{"params": grid, "lr": self.cfg.lr.grid, "name": "grid"},
                                           {"params": mlp, "lr": self.cfg.lr.mlp, "name": "mlp"}],
                                          weight_decay=0.0, eps=1e-15)
        self.opt_emotion = None
        if avatar.emotion_net is not None:
            grid, mlp = _split_net_params(avatar.emotion_net)
            self.opt_emotion = torch.optim.AdamW([{"params": grid, "lr": self.cfg.lr.grid, "name": "grid"},
                                                  {"params": mlp, "lr": self.cfg.lr.mlp, "name": "mlp"}],
                                                 weight_decay=0.0, eps=1e-15)
        self.densify_state = {k: self.strategies[k].initialize_state(len(getattr(avatar, k)))
                              for k in ("face", "mouth")}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        d = {"face": self.opt_face, "mouth": self.opt_mouth, "nets": self.opt_nets}
        if self.opt_eyes is not None:
            d["eyes"] = self.opt_eyes
        if self.opt_emotion is not None:
            d["emotion"] = self.opt_emotion
        return d

    # ------------------------------------------------------------------ state (checkpoint / guard)
    def state_tensors(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        extra = {}
        for name, opt in self._optimizers().items():
            extra.update(optimizer_tensors(f"opt.{name}", opt))
        for k, st in self.densify_state.items():
            for sk, v in st.items():
                extra[f"densify.{k}.{sk}"] = v
        return avatar_tensors(self.avatar), extra

    def load_state_tensors(self, av: dict[str, Tensor], extra: dict[str, Tensor]) -> None:
        self._setup(avatar_from_tensors(self.avatar_cfg, av).train())
        for name, opt in self._optimizers().items():
            load_optimizer_tensors(f"opt.{name}", opt, extra)
        for k in ("face", "mouth"):
            for sk in list(self.densify_state[k]):
                key = f"densify.{k}.{sk}"
                if key in extra:
                    self.densify_state[k][sk] = extra[key].clone()

    def _snapshot(self) -> None:
        av, extra = self.state_tensors()
        self._good = ({k: v.detach().clone() for k, v in av.items()},
                      {k: v.detach().clone() for k, v in extra.items()}, self.step)

    def _restore(self) -> None:
        av, extra, _ = self._good
        self.load_state_tensors(av, extra)

    def save_checkpoint(self) -> Path:
        av, extra = self.state_tensors()
        state = {"step": self.step, "total_steps": self.total_steps, "plan": self.plan,
                 "config": self.cfg.to_dict(), "avatar": self.avatar_cfg.to_dict(),
                 "guard_history": self.guard.state(), "events": self.events[-200:]}
        return write_checkpoint(self.ckpt_dir, self.step, self.avatar, extra, state)

    def resume(self) -> bool:
        """Load the latest checkpoint if there is one; True when resumed."""
        folder = latest_checkpoint(self.ckpt_dir)
        if folder is None:
            return False
        av, extra, state = read_checkpoint(folder)
        if state.get("avatar") != self.avatar_cfg.to_dict():
            raise ValueError(f"checkpoint {folder} was made with another model/dataset configuration; "
                             f"delete {self.ckpt_dir} to start over, or resume with the same preset.")
        self.load_state_tensors(av, extra)
        self.step = int(state["step"])
        self.guard.load_state(state.get("guard_history", {}))
        self._log(f"resumed from {folder} at step {self.step}/{self.total_steps}")
        return True

    # ------------------------------------------------------------------ schedule
    def stage_at(self, step: int) -> tuple[str, int, int]:
        """(stage name, first global step of the stage, its number of steps) of global `step`."""
        start = 0
        for name, n in self.plan:
            if step < start + n:
                return name, start, n
            start += n
        raise IndexError(f"step {step} is past the end of training ({self.total_steps})")

    def _set_lrs(self, stage: str, step: int) -> None:
        lr = self.cfg.lr
        gauss_steps = sum(n for s, n in self.plan if s in ("canonical", "networks")) or 1
        frac = min(step / gauss_steps, 1.0)
        means_lr = lr.means * (lr.means_final / lr.means) ** frac
        scale = lr.fuse_scale if stage == "fuse" else 1.0
        for opt in (self.opt_face, self.opt_mouth, self.opt_eyes):
            if opt is None:
                continue
            for g in opt.param_groups:
                base = means_lr if g["name"] == "means" else getattr(lr, g["name"])
                g["lr"] = base * scale
        for opt in (self.opt_nets, self.opt_emotion):
            if opt is None:
                continue
            for g in opt.param_groups:
                g["lr"] = (lr.grid if g["name"] == "grid" else lr.mlp) * scale

    def _sample(self, stage: str, step: int):
        """-> (FrameSample, use its V/A, is a synthetic emotional frame)."""
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        if stage == "emotion" and float(torch.rand((), generator=gen)) >= self.cfg.emotion_real_fraction:
            em = self.emotion_frames
            return em[int(torch.randint(len(em), (), generator=gen))], True, True
        real = self.dataset[int(torch.randint(len(self.dataset), (), generator=gen))]
        return real, stage == "emotion", False

    # ------------------------------------------------------------------ one step
    def compute_loss(self, stage: str, sample, use_va: bool,
                     synthetic: bool = False) -> tuple[Tensor, dict, dict]:
        cfg, w = self.cfg, self.cfg.loss
        tgt = make_target(sample, cfg.train_size, use_va=use_va)
        s = cfg.train_size
        # the emotion branch's motion vs the edit's: the synthetic frame's flow, none on a real frame
        flow_tgt = None
        if stage == "emotion" and w.emotion_flow > 0:
            flow_tgt = tgt.emotion_flow if synthetic else torch.zeros(s, s, 2)
        out = self.avatar.render(tgt.cond, s, s, deform=stage != "canonical", emotion=stage == "emotion",
                                 image_size=tgt.image_size, emotion_flow=flow_tgt is not None)
        rgb = out["rgb"]
        lp = self.lpips_model if stage == "fuse" else None
        l_rgb = losses.rgb_loss(rgb, tgt.image, w.dssim, lp, w.lpips)
        if w.mouth_region > 0 and stage != "canonical":
            l_rgb = l_rgb + w.mouth_region * losses.region_l1(rgb, tgt.image, tgt.mouth_box)
        if w.eye_region > 0 and stage == "emotion" and tgt.eye_boxes:
            l_rgb = l_rgb + w.eye_region * sum(
                losses.region_l1(rgb, tgt.image, b) for b in tgt.eye_boxes) / len(tgt.eye_boxes)
        l_norm = losses.normal_loss(out["normal"], tgt.normals, tgt.normal_valid,
                                    self.avatar.face.params["delta_n"], w.normal_l1, w.normal_tv, w.delta_n)
        loss = l_rgb + l_norm
        parts = {"rgb": float(l_rgb.detach()), "normal": float(l_norm.detach())}
        if flow_tgt is not None:
            l_flow = losses.flow_l1(out["emotion_flow"], flow_tgt, out["face_alpha"], tgt.face_mask)
            loss = loss + w.emotion_flow * l_flow
            parts["flow_px"] = float(l_flow.detach())
        if stage != "emotion":
            vis_mouth = (1 - out["face_alpha"]) * out["mouth_alpha"]
            l_a = losses.alpha_mask_loss(out["face_alpha"], tgt.face_mask) + \
                losses.alpha_mask_loss(vis_mouth, tgt.mouth_mask)
            loss = loss + w.alpha * l_a
            parts["alpha"] = float(l_a.detach())
        offs = [v for d in out["offsets"].values() for v in d.values()]
        if offs:
            loss = loss + losses.deformation_reg(*offs, weight=w.deform)
        with torch.no_grad():
            mse = float(((rgb.clamp(0, 1) - tgt.image) ** 2).mean())
        parts["psnr"] = -10 * math.log10(max(mse, 1e-10))
        return loss, parts, out

    def train_step(self) -> dict | None:
        """One optimisation step at `self.step`; returns its loss parts or None when skipped."""
        stage, _, _ = self.stage_at(self.step)
        self._set_lrs(stage, self.step)
        sample, use_va, synthetic = self._sample(stage, self.step)
        opts = {"canonical": [self.opt_face, self.opt_mouth, self.opt_eyes],
                "networks": [self.opt_face, self.opt_mouth, self.opt_eyes, self.opt_nets],
                "fuse": [self.opt_face, self.opt_mouth, self.opt_eyes, self.opt_nets],
                "emotion": [self.opt_emotion, self.opt_eyes]}[stage]
        opts = [o for o in opts if o is not None]
        self._freeze_for(stage)
        for opt in self._optimizers().values():
            opt.zero_grad(set_to_none=True)
        densify = stage in ("canonical", "networks")
        loss, parts, out = self.compute_loss(stage, sample, use_va, synthetic)
        kind = f"{stage}/{'synthetic' if synthetic else 'real'}"
        every = max(self.cfg.sync_every, 1)
        if self.sync_term is not None and stage != "canonical" and self.step % every == 0:
            gen = torch.Generator().manual_seed(self.cfg.seed * 104_729 + self.step)
            l_sync = self.sync_term(self.avatar, gen, emotion=stage == "emotion")
            loss = loss + self.sync_weight * l_sync
            parts["sync"] = float(l_sync.detach())
            kind += "+sync"  # the guard's running median of these steps is their own
        if densify:
            for k in ("face", "mouth"):
                self.strategies[k].step_pre_backward(out[f"{k}_info"])
        lv = float(loss.detach())
        reason = self.guard.check(lv, kind=kind)
        if reason is None:
            loss.backward()
            finite = all(torch.isfinite(p.grad).all() for opt in opts for g in opt.param_groups
                         for p in g["params"] if p.grad is not None)
            reason = self.guard.check(lv, finite, kind)
        if reason is not None:
            return self._bad_step(reason)
        self._consecutive_bad = 0
        self.guard.accept(lv, kind)
        for opt in opts:
            opt.step()
        if densify:
            gen = torch.Generator().manual_seed(self.cfg.seed * 7919 + self.step)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(2**31 - 1, (), generator=gen)))
                for k, opt in (("face", self.opt_face), ("mouth", self.opt_mouth)):
                    res = self.strategies[k].step_post_backward(
                        getattr(self.avatar, k), opt, self.densify_state[k], self.step, out[f"{k}_info"])
                    if any(res.values()):
                        self._event("densify", f"{k}: {res} -> {len(getattr(self.avatar, k))} Gaussians")
        parts["loss"] = lv
        return parts

    def _sync_term(self, sync_net):
        """L_sync's SyncTerm for `cfg.sync_judge` (SyncNet from `sync_net` or `syncnet_weights`), or
        None; sets `self.sync_weight`."""
        cfg = self.cfg
        kind = cfg.resolved_sync_judge(have_syncnet=sync_net is not None)
        self.sync_weight = cfg.loss.sync if kind == "syncnet" else 0.0
        if self.sync_weight <= 0:
            return None
        if sync_net is None and not cfg.syncnet_weights:
            raise ValueError("sync_judge 'syncnet' needs SyncNet weights: set syncnet_weights "
                             "(fit_person.py --syncnet-weights FILE)")
        from ..data.tts_bank import load_tts_bank
        from ..lipsync import load_syncnet
        from .sync_term import SyncNetLoss, SyncTerm

        tts = load_tts_bank(self.dataset.root) if cfg.sync_tts_fraction > 0 else None
        net = sync_net if sync_net is not None else load_syncnet(cfg.syncnet_weights)
        judge = SyncNetLoss(net, self.dataset, tts)
        self._log(f"L_sync: {kind} judge, weight {self.sync_weight:g}, every {cfg.sync_every} steps, "
                  f"TTS windows {cfg.sync_tts_fraction if tts is not None else 0:g}")
        return SyncTerm(judge, self.dataset, cfg.train_size, tts, cfg.sync_tts_fraction)

    def _freeze_for(self, stage: str) -> None:
        """requires_grad only on what `stage` trains (saves the backward pass the rest)."""
        av = self.avatar
        gauss = stage in ("canonical", "networks", "fuse")
        nets = stage in ("networks", "fuse")
        for m, on in ((av.face, gauss), (av.mouth, gauss), (av.face_net, nets),
                      (av.mouth_net, nets), (av.emotion_net, stage == "emotion")):
            if m is not None:
                for p in m.parameters():
                    p.requires_grad_(on)
        if av.eyes is not None:
            every = self.cfg.model.eye_training == "all"
            for k, p in av.eyes.params.items():
                p.requires_grad_(every or (stage == "emotion" and k in ("sh0", "shN")))

    def _bad_step(self, reason: str) -> None:
        self._consecutive_bad += 1
        good_step = self._good[2]
        self._restore()
        self._event("guard", f"step {self.step}: {reason}; step skipped, restored the state of step "
                    f"{good_step}")
        if self._consecutive_bad >= self.cfg.guard.max_consecutive:
            raise TrainingDiverged(
                f"{self._consecutive_bad} consecutive bad steps (last: {reason}); lower the learning rates "
                f"(lr.*) or check the dataset frames near step {self.step}. "
                f"Events: {self.out_dir / 'train.log'}")
        return None

    def _event(self, kind: str, msg: str) -> None:
        self.events.append({"step": self.step, "kind": kind, "message": msg})
        self._log(f"[{kind}] {msg}")

    def _log(self, msg: str) -> None:
        log.info(msg)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "train.log", "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    # ------------------------------------------------------------------ the loop
    def run(self, resume: bool = False) -> Avatar:
        """Train through all stages (resuming from the latest checkpoint if `resume`); write the
        avatar folder (`out_dir/avatar.json` + `avatar.safetensors`) and return the avatar."""
        from tqdm import tqdm

        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        if not (resume and self.resume()):
            torch.manual_seed(self.cfg.seed)
            self._setup(self._fresh_avatar().train())
            self._log(f"training {self.total_steps} steps: {self.plan}; LPIPS: {self.lpips_status}")
        self._snapshot()
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, dynamic_ncols=True,
                   desc="fit")
        t_start = time.time()
        sync_values: list[float] = []  # L_sync of the steps since the last log line (every sync_every)
        while self.step < self.total_steps:
            stage = self.stage_at(self.step)[0]
            parts = self.train_step()
            if parts is None:  # bad step: skipped (its frame is not retried), last good state restored
                self.step += 1
                bar.update(1)
                continue
            self.step += 1
            bar.update(1)
            if "sync" in parts:
                sync_values.append(parts["sync"])
            if self.step % max(1, self.cfg.log_every) == 0 or self.step == self.total_steps:
                bar.set_postfix(stage=stage, loss=f"{parts['loss']:.4f}", psnr=f"{parts['psnr']:.1f}",
                                face=len(self.avatar.face), mouth=len(self.avatar.mouth))
                logged = {k: v for k, v in parts.items() if k != "sync"}
                if sync_values:
                    logged["sync_mean"] = float(np.mean(sync_values))
                    sync_values = []
                self._log(f"step {self.step}/{self.total_steps} [{stage}] " + json.dumps(
                    {k: round(v, 5) for k, v in logged.items()}))
            if self.step % self.cfg.guard.snapshot_every == 0:
                self._snapshot()
            if self.step % max(1, self.cfg.checkpoint_every) == 0 and self.step < self.total_steps:
                self.save_checkpoint()
            if self.step_callback is not None:
                self.step_callback(self.step, parts)
        bar.close()
        self.save_checkpoint()
        self.avatar.eval()
        save_avatar(self.avatar, self.out_dir, {
            "dataset": str(Path(self.dataset.root).resolve()),
            "train": {"preset": self.cfg.preset, "steps": self.total_steps, "plan": self.plan,
                      "seconds_this_run": round(time.time() - t_start, 1), "lpips": self.lpips_status,
                      "events": self.events[-50:], "config": self.cfg.to_dict()}})
        return self.avatar
