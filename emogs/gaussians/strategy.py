"""Densification and pruning as a small strategy object (gsplat-style hooks).

Usage inside a training step::

    strategy.step_pre_backward(info)                # info["means2d"].retain_grad()
    loss.backward()
    strategy.step_post_backward(gset, optimizer, state, step, info)
    optimizer.step()

`info` is the rasterizer meta of this Gaussian set's render: `means2d` [N,2] (pixels),
`radii` [N] (>0 = visible), `width`, `height`. Every operation rewrites *all* parameters of
the `GaussianSet` and the matching Adam moments of `optimizer` with one index function, so
per-Gaussian tensors and optimizer state can never drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .gaussian_set import PARAM_KEYS, GaussianSet, quat_to_rotmat


def make_optimizer(gset: GaussianSet, lrs: dict[str, float], eps: float = 1e-15) -> torch.optim.Adam:
    """One Adam with a named param group per GaussianSet key (lr from `lrs`, 0 if absent)."""
    groups = [{"params": [gset.params[k]], "lr": float(lrs.get(k, 0.0)), "name": k} for k in PARAM_KEYS]
    return torch.optim.Adam(groups, eps=eps)


def _replace(
    gset: GaussianSet,
    optimizer: torch.optim.Optimizer | None,
    param_fn: Callable[[str, Tensor], Tensor],
    state_fn: Callable[[str, Tensor], Tensor],
) -> None:
    """Replace every parameter p by param_fn(key, p) and each optimizer moment m by state_fn(key, m)."""
    for k in PARAM_KEYS:
        old = gset.params[k]
        new = nn.Parameter(param_fn(k, old.data), requires_grad=old.requires_grad)
        if optimizer is not None:
            for group in optimizer.param_groups:
                if group["params"][0] is not old:
                    continue
                st = optimizer.state.pop(old, None)
                if st is not None:
                    for sk, sv in list(st.items()):
                        if isinstance(sv, Tensor) and sv.dim() > 0 and sv.shape[0] == old.shape[0]:
                            st[sk] = state_fn(k, sv)
                    optimizer.state[new] = st
                group["params"][0] = new
        gset.params[k] = new


@torch.no_grad()
def duplicate(gset: GaussianSet, optimizer, mask: Tensor) -> None:
    """Append a copy of the Gaussians selected by `mask` [N] (bool); new moments are zero."""
    sel = mask.nonzero().squeeze(-1)
    _replace(
        gset,
        optimizer,
        lambda k, p: torch.cat([p, p[sel]]),
        lambda k, m: torch.cat([m, torch.zeros_like(m[sel])]),
    )


@torch.no_grad()
def split(gset: GaussianSet, optimizer, mask: Tensor, generator: torch.Generator | None = None) -> None:
    """Replace each selected Gaussian by two samples of it, scales / 1.6 (3DGS rule)."""
    sel = mask.nonzero().squeeze(-1)
    keep = (~mask).nonzero().squeeze(-1)
    scales = gset.scales[sel]
    rot = quat_to_rotmat(gset.params["quats"][sel])
    # drawn on the CPU (the same noise on every device for one seed), then moved
    noise = torch.randn(2, len(sel), 3, generator=generator).to(scales.device)
    offs = torch.einsum("nij,bnj->bni", rot, scales[None] * noise)  # [2,S,3]

    def param_fn(k: str, p: Tensor) -> Tensor:
        if k == "means":
            new = (p[sel][None] + offs).reshape(-1, 3)
        elif k == "log_scales":
            new = (p[sel] - math.log(1.6)).repeat(2, 1)
        else:
            new = p[sel].repeat(2, *([1] * (p.dim() - 1)))
        return torch.cat([p[keep], new])

    _replace(gset, optimizer, param_fn, lambda k, m: torch.cat([m[keep], torch.zeros_like(m[sel]).repeat(
        2, *([1] * (m.dim() - 1)))]))


@torch.no_grad()
def remove(gset: GaussianSet, optimizer, mask: Tensor) -> None:
    """Delete the Gaussians selected by `mask` [N] (bool)."""
    keep = (~mask).nonzero().squeeze(-1)
    _replace(gset, optimizer, lambda k, p: p[keep], lambda k, m: m[keep])


@torch.no_grad()
def reset_opacity(gset: GaussianSet, optimizer, value: float) -> None:
    """Clamp every opacity to at most `value` and zero the opacity moments."""
    logit = math.log(value / (1 - value))

    def param_fn(k: str, p: Tensor) -> Tensor:
        return p.clamp_max(logit) if k == "opacity_logit" else p

    def state_fn(k: str, m: Tensor) -> Tensor:
        return torch.zeros_like(m) if k == "opacity_logit" else m

    _replace(gset, optimizer, param_fn, state_fn)


@dataclass
class DensifyStrategy:
    """Adaptive density control (3DGS / gsplat "default" strategy).

    Scale thresholds are relative to `scene_scale` (world units; the face template fits
    [-0.15,0.15]^3 so 0.3 is a sensible extent).
    """

    grow_grad2d: float = 0.0002
    grow_scale3d: float = 0.01
    prune_opa: float = 0.005
    prune_scale3d: float = 0.1
    refine_start: int = 500
    refine_stop: int = 15_000
    refine_every: int = 100
    reset_every: int = 3000
    max_gaussians: int = 30_000
    scene_scale: float = 0.3

    def initialize_state(self, n: int, device: torch.device | str | None = None) -> dict:
        """Per-Gaussian accumulators [n] on `device` (the Gaussian set's; default cpu)."""
        return {"grad2d": torch.zeros(n, device=device), "count": torch.zeros(n, device=device)}

    def step_pre_backward(self, info: dict) -> None:
        m = info["means2d"]
        if m.requires_grad:
            m.retain_grad()

    @torch.no_grad()
    def step_post_backward(
        self, gset: GaussianSet, optimizer, state: dict, step: int, info: dict
    ) -> dict[str, int]:
        """Accumulate screen-space gradients; every `refine_every` steps grow / prune.

        Returns counts {"duplicated", "split", "pruned"} (zeros on steps that do not refine).
        """
        n = len(gset)
        if state["grad2d"].shape[0] != n:
            raise RuntimeError(
                f"densify state has {state['grad2d'].shape[0]} rows but the GaussianSet has {n}: "
                "the set was changed outside the strategy; call initialize_state() again."
            )
        out = {"duplicated": 0, "split": 0, "pruned": 0}
        if step >= self.refine_stop:
            return out
        m2d = info["means2d"]
        if m2d.grad is not None:
            rows = info.get("rows", slice(None))  # this set's rows when rasterized with others
            g = m2d.grad.detach().reshape(-1, 2)[rows].clone()  # gsplat's means2d is [1,N,2]
            g[:, 0] *= info["width"] / 2.0
            g[:, 1] *= info["height"] / 2.0
            vis = info["radii"][rows] > 0
            state["grad2d"][vis] += g[vis].norm(dim=-1)
            state["count"][vis] += 1
        if step > self.refine_start and step % self.refine_every == 0:
            out = self._refine(gset, optimizer, state)
            state.update(self.initialize_state(len(gset), gset.means.device))
            if self.reset_every > 0 and step % self.reset_every == 0:
                reset_opacity(gset, optimizer, value=self.prune_opa * 2.0)
        return out

    def _refine(self, gset: GaussianSet, optimizer, state: dict) -> dict[str, int]:
        avg = state["grad2d"] / state["count"].clamp_min(1)
        high = avg > self.grow_grad2d
        big = gset.scales.max(dim=-1).values > self.grow_scale3d * self.scene_scale
        budget = max(self.max_gaussians - len(gset), 0)
        dup = high & ~big
        spl = high & big
        # respect the budget: keep the highest-gradient candidates
        for name in ("dup", "spl"):
            m = dup if name == "dup" else spl
            if int(m.sum()) > budget:
                idx = m.nonzero().squeeze(-1)
                top = idx[avg[idx].argsort(descending=True)[:budget]]
                m = torch.zeros_like(m)
                m[top] = True
            budget -= int(m.sum())
            if name == "dup":
                dup = m
            else:
                spl = m
        n_dup, n_spl = int(dup.sum()), int(spl.sum())
        if n_dup:
            duplicate(gset, optimizer, dup)
            spl = torch.cat([spl, torch.zeros(n_dup, dtype=torch.bool, device=spl.device)])
        if n_spl:
            split(gset, optimizer, spl)
        prune = gset.opacities < self.prune_opa
        prune |= gset.scales.max(dim=-1).values > self.prune_scale3d * self.scene_scale
        if int(prune.sum()) >= len(gset):  # never empty a set
            prune[gset.opacities.argmax()] = False
        n_pr = int(prune.sum())
        if n_pr:
            remove(gset, optimizer, prune)
        return {"duplicated": n_dup, "split": n_spl, "pruned": n_pr}
