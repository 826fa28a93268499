"""The training loop: stages canonical -> networks -> fuse -> emotion, checkpoints, resume, NaN guard.

    trainer = Trainer(load_config("quick"), PersonDataset(root, "train", load_emotion=True), out_dir)
    avatar = trainer.run(resume=True)

One frame is sampled per step from the memory-mapped dataset (memory does not grow with the video
length); the frame of step s depends only on (seed, s), so a resumed run sees the same frames as
an uninterrupted one.

Stages (global step counter; `cfg.stages` gives the steps of each) are data, `StageSpec`s
(emogs.train.stages: what trains, which losses, which deformations), in order:
- canonical: Gaussians only (no deformation), L_rgb + L_normal + alpha-mask terms; densification
  (face and mouth; the eyeballs keep their number).
- networks: the audio/AU manipulation networks join (face + mouth), + offset penalty, L_sync.
- fuse: everything fine-tuned at `lr.fuse_scale` x the learning rates; LPIPS when weights exist.
- emotion: the emotion branch and the eyeballs' colours (what raised lids uncover is only seen here),
  on the synthetic emotional frames with their target V/A, mixed with real frames at their estimated
  V/A (`emotion_real_fraction`) to keep neutral behaviour.
The loss of a frame is emogs.train.objective.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .. import losses
from ..avatar import Avatar, AvatarConfig, build_avatar
from ..avatar.store import avatar_from_tensors, avatar_tensors, save_avatar
from ..backends import check_backends
from ..gaussians import PARAM_KEYS, make_optimizer
from .checkpoint import (
    latest_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    read_checkpoint,
    write_checkpoint,
)
from .config import STAGES, TrainConfig
from .objective import flow_target, frame_objective
from .stages import STAGE_SPECS, StageSpec
from .targets import make_target

log = logging.getLogger("emogs.train")


class TrainingDiverged(RuntimeError):
    """Too many consecutive bad steps (NaN / exploding loss) even after restoring good states."""


def avatar_config_for(cfg: TrainConfig, dataset, with_emotion: bool) -> AvatarConfig:
    """The AvatarConfig of a training run on `dataset` (sizes from cfg.model, dims from the data)."""
    af = dataset.manifest.get("audio_features", {})
    return AvatarConfig(
        **cfg.model.options(),
        **cfg.model.encoders(),
        audio_dim=int(dataset.audio_dim),
        aus_names=list(dataset.aus_names),
        with_emotion=with_emotion,
        # the expression the synthetic frames' targets are relative to (the emotion stage's record)
        emotion_rest_va=dataset.manifest.get("stages", {}).get("emotion", {}).get("rest_va"),
        audio_window=int(getattr(dataset, "audio_window_size", 4)),
        audio_extractor=str(af.get("extractor", "")),
        fps=float(dataset.fps),
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
        specs: Mapping[str, StageSpec] | None = None,
        device: torch.device | str = "cpu",
    ):
        """`specs`: the StageSpec of each stage name of `cfg.stages` (default: STAGE_SPECS)."""
        if len(dataset) == 0:
            raise ValueError("the training split is empty; check the dataset's manifest 'split'.")
        self.cfg = cfg
        self.device = torch.device(device)  # the avatar, targets and judges live here (emogs.device)
        # the concrete rasterizer / hash-grid backends there; a requested one that is absent fails now
        self.backends = check_backends(cfg.model.backend, cfg.model.hash_backend, self.device)
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
        self.specs = dict(STAGE_SPECS if specs is None else specs)
        missing = [s for s in STAGES if s not in self.specs]
        if missing:
            raise ValueError(f"no StageSpec for the stages {missing}")
        wants_emotion = any(cfg.stages.get(s, 0) > 0 for s in STAGES if self.specs[s].emotion)
        self.with_emotion = has_em and mode != "off" and wants_emotion
        self.plan = [(s, int(cfg.stages.get(s, 0))) for s in STAGES
                     if cfg.stages.get(s, 0) > 0 and (not self.specs[s].emotion or self.with_emotion)]
        self.total_steps = sum(n for _, n in self.plan)
        self.avatar_cfg = avatar_config_for(cfg, dataset, self.with_emotion)
        self.lpips_model, self.lpips_status = losses.load_lpips(cfg.lpips_weights)
        if self.lpips_model is not None:
            self.lpips_model.to(self.device)
        self.sync_term = self._sync_term(sync_net)
        self.guard = NanGuard(cfg.guard.explode_factor, cfg.guard.warmup)
        self.strategies = {"face": replace(cfg.densify, max_gaussians=cfg.model.max_face),
                           "mouth": replace(cfg.densify, max_gaussians=cfg.model.max_mouth)}
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
        avatar = build_avatar(self.avatar_cfg, self._template(), img, self.dataset.w2c[t0].numpy(),
                              self.dataset.K.numpy(), seed=self.cfg.seed, eye_image=eye_img)
        if avatar.face_net is not None:  # AUs beyond the training frames' range are clamped to it
            avatar.face_net.set_au_range(torch.from_numpy(np.asarray(self.dataset.aus)[self.dataset.frame_indices]))
        return avatar.to(self.device)

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
        self.densify_state = {k: self.strategies[k].initialize_state(len(getattr(avatar, k)), self.device)
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
        self._setup(avatar_from_tensors(self.avatar_cfg, av).to(self.device).train())
        for name, opt in self._optimizers().items():
            load_optimizer_tensors(f"opt.{name}", opt, extra)
        for k in ("face", "mouth"):
            for sk in list(self.densify_state[k]):
                key = f"densify.{k}.{sk}"
                if key in extra:
                    self.densify_state[k][sk] = extra[key].to(self.device, copy=True)

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

    def _set_lrs(self, spec: StageSpec, step: int) -> None:
        lr = self.cfg.lr
        gauss_steps = sum(n for s, n in self.plan if self.specs[s].means_decay) or 1
        frac = min(step / gauss_steps, 1.0)
        means_lr = lr.means * (lr.means_final / lr.means) ** frac
        scale = getattr(lr, spec.lr_scale) if spec.lr_scale else 1.0
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

    def _sample(self, spec: StageSpec, step: int):
        """-> (FrameSample, use its V/A, is a synthetic emotional frame)."""
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        if spec.emotion and float(torch.rand((), generator=gen)) >= self.cfg.emotion_real_fraction:
            em = self.emotion_frames
            return em[int(torch.randint(len(em), (), generator=gen))], True, True
        real = self.dataset[int(torch.randint(len(self.dataset), (), generator=gen))]
        return real, spec.emotion, False

    # ------------------------------------------------------------------ one step
    def compute_loss(self, stage: str, sample, use_va: bool,
                     synthetic: bool = False) -> tuple[Tensor, dict, dict]:
        """(loss, parts, render) of `sample` in `stage`: the render its StageSpec asks for and the
        frame objective (emogs.train.objective)."""
        spec, cfg = self.specs[stage], self.cfg
        tgt = make_target(sample, cfg.train_size, use_va=use_va).to(self.device)
        s = cfg.train_size
        flow_tgt = flow_target(spec, cfg.loss, tgt, synthetic, s)
        out = self.avatar.render(tgt.cond, s, s, deform=spec.deform, emotion=spec.emotion,
                                 image_size=tgt.image_size, emotion_flow=flow_tgt is not None)
        loss, parts = frame_objective(spec, out, tgt, cfg.loss, self.avatar.face.params["delta_n"],
                                      self.lpips_model, flow_tgt)
        return loss, parts, out

    def _trained(self, spec: StageSpec) -> frozenset[str]:
        """The parameter groups `spec` trains, with every eyeball parameter under eye_training "all"."""
        return spec.trains | {"eyes"} if self.cfg.model.eye_training == "all" else spec.trains

    def _stage_optimizers(self, spec: StageSpec) -> list[torch.optim.Optimizer]:
        by_group = {"gaussians": [self.opt_face, self.opt_mouth], "nets": [self.opt_nets],
                    "emotion": [self.opt_emotion], "eyes": [self.opt_eyes], "eye_colours": [self.opt_eyes]}
        opts: list = []
        for group in sorted(self._trained(spec)):
            opts += [o for o in by_group[group] if o is not None and all(o is not x for x in opts)]
        return opts

    def train_step(self) -> dict | None:
        """One optimisation step at `self.step`; returns its loss parts or None when skipped."""
        stage, _, _ = self.stage_at(self.step)
        spec = self.specs[stage]
        self._set_lrs(spec, self.step)
        sample, use_va, synthetic = self._sample(spec, self.step)
        opts = self._stage_optimizers(spec)
        self._freeze_for(spec)
        for opt in self._optimizers().values():
            opt.zero_grad(set_to_none=True)
        loss, parts, out = self.compute_loss(stage, sample, use_va, synthetic)
        kind = f"{stage}/{'synthetic' if synthetic else 'real'}"
        every = max(self.cfg.sync_every, 1)
        if self.sync_term is not None and "sync" in spec.losses and self.step % every == 0:
            gen = torch.Generator().manual_seed(self.cfg.seed * 104_729 + self.step)
            l_sync = self.sync_term(self.avatar, gen, emotion=spec.emotion)
            loss = loss + self.sync_weight * l_sync
            parts["sync"] = float(l_sync.detach())
            kind += "+sync"  # the guard's running median of these steps is their own
        if spec.densify:
            for k in ("face", "mouth"):
                self.strategies[k].step_pre_backward(out[f"{k}_info"])
        lv = float(loss.detach())
        reason = self.guard.check(lv, kind=kind)
        if reason is None:
            loss.backward()
            # one device sync for all gradients (not one per parameter: they stall a GPU's queue)
            checks = [torch.isfinite(p.grad).all() for opt in opts for g in opt.param_groups
                      for p in g["params"] if p.grad is not None]
            finite = bool(torch.stack(checks).all()) if checks else True
            reason = self.guard.check(lv, finite, kind)
        if reason is not None:
            return self._bad_step(reason)
        self._consecutive_bad = 0
        self.guard.accept(lv, kind)
        for opt in opts:
            opt.step()
        if spec.densify:
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
        judge = SyncNetLoss(net.to(self.device), self.dataset, tts)
        self._log(f"L_sync: {kind} judge, weight {self.sync_weight:g}, every {cfg.sync_every} steps, "
                  f"TTS windows {cfg.sync_tts_fraction if tts is not None else 0:g}")
        return SyncTerm(judge, self.dataset, cfg.train_size, tts, cfg.sync_tts_fraction)

    def _freeze_for(self, spec: StageSpec) -> None:
        """requires_grad only on what `spec` trains (saves the backward pass the rest)."""
        av, on = self.avatar, self._trained(spec)
        for m, group in ((av.face, "gaussians"), (av.mouth, "gaussians"), (av.face_net, "nets"),
                         (av.mouth_net, "nets"), (av.emotion_net, "emotion")):
            if m is not None:
                for p in m.parameters():
                    p.requires_grad_(group in on)
        if av.eyes is not None:
            for k, p in av.eyes.params.items():
                p.requires_grad_("eyes" in on or ("eye_colours" in on and k in ("sh0", "shN")))

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
            self._log(f"training {self.total_steps} steps: {self.plan}; LPIPS: {self.lpips_status}; "
                      f"device {self.device}, backends {self.backends}")
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
