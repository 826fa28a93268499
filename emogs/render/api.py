"""`rasterize()`: the functional entry point of emogs rendering, and its backend selection."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import torch
from torch import Tensor

from emogs._ext import cuda_compiled, has_extension

from . import reference as ref

BACKENDS = ("cpu", "cuda", "gsplat", "torch")


@dataclass
class RenderOutput:
    """What `rasterize` returns. Shapes for one camera; a batch of B cameras adds a leading B.

    image: [H,W,C] = sum_i T_i a_i f_i + T_final * background.
    alpha: [H,W,1] = 1 - T_final.
    depth: [H,W,1] expected camera-space depth sum_i T_i a_i z_i, *not* normalised by alpha
           (divide by alpha.clamp_min(eps) for a surface depth); background depth is 0.
    meta:  radii [N] int32 (screen-space half-extent in pixels of the alpha >= 1/255 region, 0 =
           culled), means2d [N,2] (in the autograd graph: call `.retain_grad()` before backward to
           get the screen-space gradient densification needs), conics [N,3], depths [N],
           num_visible (int), backend (str), and for the compiled backends `stats`
           (sort/binning/blending seconds and pair counts of the forward pass).
    """

    image: Tensor
    alpha: Tensor
    depth: Tensor
    meta: dict = field(default_factory=dict)


def _gsplat_usable() -> bool:
    # Never import gsplat.cuda._backend without a GPU: it starts a ~10 minute CUDA JIT build.
    return torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None


class BackendUnavailable(RuntimeError):
    """A requested rasterizer backend cannot run here (the message names why and the fix)."""


def available_backends(device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> list[str]:
    """Backends usable for tensors on `device` (of `dtype`, when given), fastest first.

    gsplat is float32 only: it is left out for float64 tensors."""
    device = torch.device(device)
    out = []
    if device.type == "cuda":
        if cuda_compiled("raster"):
            out.append("cuda")
        if dtype in (None, torch.float32) and _gsplat_usable():
            out.append("gsplat")
    elif has_extension("raster"):
        out.append("cpu")
    out.append("torch")
    return out


def resolve_backend(backend: str, device: torch.device | str, dtype: torch.dtype | None = None) -> str:
    """The concrete backend that `backend` ("auto" or a name in BACKENDS) means for tensors on
    `device` (of `dtype`): "auto" picks the fastest available; a named backend that cannot run
    raises BackendUnavailable naming why and the fix."""
    if backend not in BACKENDS + ("auto",):
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS + ('auto',)}")
    device = torch.device(device)
    avail = available_backends(device, dtype)
    if backend == "auto":
        return avail[0]
    if backend not in avail:
        hint = {
            "cpu": "needs CPU tensors and the built kernels: `make build` (or EMOGS_ONLY=raster python "
            "setup.py build_ext --inplace)",
            "cuda": "needs CUDA tensors and emogs built with a CUDA torch + nvcc (`EMOGS_CUDA=1 make build`, "
            "README 'GPU install')",
            "gsplat": "needs float32 CUDA tensors, a CUDA device and `pip install gsplat` "
            "(it compiles its kernels on first use)",
        }.get(backend, "")
        raise BackendUnavailable(
            f"rasterizer backend {backend!r} is not available for tensors on {device}: {hint}. "
            f"Available here: {avail} (or backend='auto')"
        )
    return backend


def _all_finite(t: Tensor) -> bool:
    """True when t has no NaN / inf. A finite sum proves it (NaN or inf anywhere makes the sum
    non-finite) at a tenth of the cost of isfinite(t).all(); only a non-finite sum (a bad value or
    a finite overflow) takes the exact element-wise test."""
    t = t.detach()
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def _check_inputs(
    means, quats, scales, opacities, features, viewmat, K, width, height, background, normalize, near, far
):
    def shape_err(name, t, want):
        raise ValueError(f"rasterize: {name} must have shape {want}, got {tuple(t.shape)}")

    tensors = dict(
        means=means, quats=quats, scales=scales, opacities=opacities, features=features, viewmat=viewmat, K=K
    )
    if background is not None:
        tensors["background"] = background
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"rasterize: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"rasterize: {name} must be a floating-point tensor, got {t.dtype}")
    if means.dim() != 2 or means.shape[1] != 3:
        shape_err("means", means, "[N,3]")
    N = means.shape[0]
    if quats.shape != (N, 4):
        shape_err("quats", quats, f"[N,4] = [{N},4] (w,x,y,z)")
    if scales.shape != (N, 3):
        shape_err("scales", scales, f"[N,3] = [{N},3]")
    if opacities.shape != (N,):
        shape_err("opacities", opacities, f"[N] = [{N}] (squeeze a trailing 1)")
    if features.dim() != 2 or features.shape[0] != N or features.shape[1] < 1:
        shape_err("features", features, f"[N,C] = [{N},C] with C >= 1")
    if viewmat.shape[-2:] != (4, 4) or viewmat.dim() not in (2, 3):
        shape_err("viewmat", viewmat, "[4,4] or [B,4,4]")
    if K.shape[-2:] != (3, 3) or K.dim() not in (2, 3):
        shape_err("K", K, "[3,3] or [B,3,3]")
    if viewmat.dim() == 3 and K.dim() == 3 and K.shape[0] != viewmat.shape[0]:
        raise ValueError(f"rasterize: viewmat batch {viewmat.shape[0]} != K batch {K.shape[0]}")
    if background is not None and background.shape != (features.shape[1],):
        shape_err("background", background, f"[C] = [{features.shape[1]}] (one value per feature channel)")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise ValueError(f"rasterize: width and height must be positive ints, got {width!r}, {height!r}")
    if not 0 < near < far:
        raise ValueError(f"rasterize: need 0 < near < far, got near={near}, far={far}")
    dtypes = {t.dtype for n, t in tensors.items() if n not in ("viewmat", "K")}
    if len(dtypes) != 1:
        raise TypeError(
            f"rasterize: means/quats/scales/opacities/features/background must share a dtype, got "
            f"{sorted(str(d) for d in dtypes)}; cast them with .to(means.dtype)"
        )
    if means.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"rasterize: use float32 or float64 tensors, got {means.dtype}")
    devices = {t.device for t in tensors.values()}
    if len(devices) != 1:
        raise ValueError(
            f"rasterize: all tensors must be on one device, got {sorted(str(d) for d in devices)}; "
            "move them with .to(means.device)"
        )
    for name, t in tensors.items():
        if not _all_finite(t):
            raise ValueError(f"rasterize: {name} contains NaN or inf values; check the optimiser / inputs")
    if N and (opacities.min() < 0 or opacities.max() > 1):
        raise ValueError(
            "rasterize: opacities must be in [0,1] (post-sigmoid); apply torch.sigmoid to logits"
        )
    if N and scales.min() < 0:
        raise ValueError("rasterize: scales must be >= 0 (linear); if these are log-scales pass scales.exp()")
    if N and not normalize:
        err = (quats.detach().norm(dim=-1) - 1).abs().max().item()
        if err > 1e-3:
            raise ValueError(
                f"rasterize: quats must be unit quaternions (max |norm - 1| = {err:.3g}); normalise them "
                "(torch.nn.functional.normalize(quats, dim=-1)) or pass normalize=True"
            )


def _render_one(
    backend,
    means,
    quats,
    scales,
    opacities,
    features,
    viewmat,
    K,
    width,
    height,
    background,
    near,
    far,
    eps2d,
) -> RenderOutput:
    C = features.shape[1]
    if backend == "torch":
        p = ref.project_reference(
            means, quats, scales, opacities, viewmat, K, width, height, near, far, eps2d
        )
        feats = torch.cat([features, p["depths"][:, None]], 1)
        bg = torch.cat([background, background.new_zeros(1)])
        img, alpha = ref.rasterize_reference(
            p["means2d"],
            p["conics"],
            opacities,
            feats,
            p["depths"],
            p["visible"],
            p["rects"],
            bg,
            width,
            height,
        )
        meta = dict(radii=p["radii"], means2d=p["means2d"], conics=p["conics"], depths=p["depths"])
    elif backend in ("cpu", "cuda"):
        from ._kernels import ProjectFn, RasterizeFn

        means2d, conics, depths, radii, rects = ProjectFn.apply(
            means.contiguous(),
            quats.contiguous(),
            scales.contiguous(),
            opacities.contiguous(),
            viewmat,
            K.detach().cpu(),
            width,
            height,
            float(near),
            float(far),
            float(eps2d),
        )
        feats = torch.cat([features, depths[:, None]], 1).contiguous()
        bg = torch.cat([background, background.new_zeros(1)]).contiguous()
        diff = (means2d, conics, opacities, feats, bg)
        need_grad = torch.is_grad_enabled() and any(t.requires_grad for t in diff)
        img, alpha, stats = RasterizeFn.apply(
            means2d,
            conics,
            opacities.contiguous(),
            feats,
            bg,
            depths.detach(),
            radii,
            rects,
            width,
            height,
            need_grad,
        )
        s = stats.tolist()
        meta = dict(
            radii=radii,
            means2d=means2d,
            conics=conics,
            depths=depths,
            stats=dict(
                sort_ms=1e3 * s[0],
                bin_ms=1e3 * s[1],
                blend_ms=1e3 * s[2],
                pairs_evaluated=int(s[3]),
                pairs_blended=int(s[4]),
                tile_pairs=int(s[5]),
            ),
        )
    else:  # gsplat, CUDA only (checked by _pick_backend)
        return _render_gsplat(
            means, quats, scales, opacities, features, viewmat, K, width, height, background, near, far, eps2d
        )
    meta["num_visible"] = int((meta["radii"] > 0).sum())
    meta["backend"] = backend
    return RenderOutput(image=img[..., :C], alpha=alpha, depth=img[..., C:], meta=meta)


def _render_gsplat(
    means, quats, scales, opacities, features, viewmat, K, width, height, background, near, far, eps2d
) -> RenderOutput:
    """gsplat (CUDA, float32) backend; only reached with CUDA tensors on a machine with a CUDA device.

    Mapping onto `gsplat.rasterization` (1.x): one camera -> viewmats [1,4,4], Ks [1,3,3]; our
    features [N,C] are its post-activation `colors` (sh_degree=None, any C); render_mode "RGB+D"
    appends the expected depth sum_i w_i z_i (not normalised: our `depth`) as channel C and a zero
    depth background; backgrounds [1,C]; quats are (w,x,y,z), scales linear, opacities [N] as ours.
    Returned: colors [1,H,W,C+1], alphas [1,H,W,1], info with radii [1,N,2] (per axis; [1,N] before
    1.5), means2d [1,N,2], depths [1,N], conics [1,N,3]. `meta["means2d"]` is gsplat's own
    [1,N,2] tensor (the one in the autograd graph, so `retain_grad()` works): read its gradient
    with `.grad.reshape(-1, 2)`; the other meta entries are per Gaussian as with every backend.
    """
    from gsplat import rasterization  # imported lazily: never on a machine without a GPU

    C = features.shape[1]
    colors, alphas, info = rasterization(
        means,
        quats,
        scales,
        opacities,
        features,
        viewmat[None].to(means.dtype),
        K[None].to(means.dtype),
        width,
        height,
        near_plane=near,
        far_plane=far,
        eps2d=eps2d,
        render_mode="RGB+D",
        backgrounds=background[None],  # gsplat appends the zero depth background itself
        packed=False,
        sh_degree=None,
        rasterize_mode="classic",
    )
    radii = info["radii"][0]
    if radii.dim() == 2:  # gsplat >= 1.5 gives per-axis radii
        radii = radii.max(-1).values
    meta = dict(
        radii=radii.int(),
        means2d=info["means2d"],
        conics=info["conics"][0],
        depths=info["depths"][0],
        num_visible=int((radii > 0).sum()),
        backend="gsplat",
        info=info,
    )
    return RenderOutput(image=colors[0, ..., :C], alpha=alphas[0], depth=colors[0, ..., C:], meta=meta)


def rasterize(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    features: Tensor,
    viewmat: Tensor,
    K: Tensor,
    width: int,
    height: int,
    background: Tensor | None = None,
    backend: str = "auto",
    near: float = 0.01,
    far: float = 1e3,
    eps2d: float = 0.3,
    normalize: bool = False,
) -> RenderOutput:
    """Splat N 3D Gaussians into one camera (or a batch of B cameras).

    means [N,3] world positions; quats [N,4] unit quaternions (w,x,y,z) (non-unit -> error, or
    pass normalize=True to normalise inside the graph); scales [N,3] linear std-devs; opacities
    [N] in [0,1]; features [N,C], any C >= 1 (RGB, RGB+normal, ...); viewmat [4,4] or [B,4,4]
    world->camera (OpenCV: x right, y down, z forward); K [3,3] or [B,3,3] pixel intrinsics;
    background [C] or None (zeros). Gaussians with camera depth outside [near, far] are culled;
    eps2d is added to the 2D covariance diagonal (a minimum footprint, as in 3DGS).

    backend: "auto" (fastest available: cuda > gsplat on CUDA tensors, cpu > torch on CPU
    tensors), "cpu" (C++/OpenMP kernels), "cuda" (our CUDA kernels), "gsplat", "torch" (pure-
    PyTorch reference). Differentiable w.r.t. means, quats, scales, opacities, features and
    background (not w.r.t. viewmat / K). See `RenderOutput` for the outputs.
    """
    _check_inputs(
        means, quats, scales, opacities, features, viewmat, K, width, height, background, normalize, near, far
    )
    chosen = resolve_backend(backend, means.device, means.dtype)
    if normalize:
        quats = torch.nn.functional.normalize(quats, dim=-1)
    if background is None:
        background = features.new_zeros(features.shape[1])
    if viewmat.dim() == 2 and K.dim() == 2:
        return _render_one(
            chosen,
            means,
            quats,
            scales,
            opacities,
            features,
            viewmat,
            K,
            width,
            height,
            background,
            near,
            far,
            eps2d,
        )
    B = viewmat.shape[0] if viewmat.dim() == 3 else K.shape[0]
    vms = viewmat if viewmat.dim() == 3 else viewmat.expand(B, 4, 4)
    Ks = K if K.dim() == 3 else K.expand(B, 3, 3)
    outs = [
        _render_one(
            chosen,
            means,
            quats,
            scales,
            opacities,
            features,
            vms[b],
            Ks[b],
            width,
            height,
            background,
            near,
            far,
            eps2d,
        )
        for b in range(B)
    ]
    meta: dict = {"backend": chosen, "per_camera": [o.meta for o in outs]}
    for key in ("radii", "means2d", "depths"):
        meta[key] = [o.meta[key] for o in outs]
        if all(isinstance(m, Tensor) for m in meta[key]):
            meta[key] = torch.stack(meta[key])
    meta["num_visible"] = [o.meta["num_visible"] for o in outs]
    return RenderOutput(
        image=torch.stack([o.image for o in outs]),
        alpha=torch.stack([o.alpha for o in outs]),
        depth=torch.stack([o.depth for o in outs]),
        meta=meta,
    )
