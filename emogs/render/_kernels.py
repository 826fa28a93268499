"""Autograd wrappers of the compiled kernels (`emogs._ext_raster`, CPU or CUDA tensors).

Two stages, each a `torch.autograd.Function` with a hand-written backward:
`ProjectFn` (3D -> screen space) and `RasterizeFn` (tile binning, sorting, blending).
"""

from __future__ import annotations

import torch
from torch import Tensor

from emogs._ext import load_extension


def _ext():
    return load_extension("raster")


def _zeros_if_none(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g.contiguous()


class ProjectFn(torch.autograd.Function):
    """(means [N,3], quats [N,4], scales [N,3], opacities [N], viewmat [4,4], K [3,3]) ->
    means2d [N,2], conics [N,3], depths [N], radii [N] int32, rects [N,4] int32.
    Differentiable w.r.t. means, quats, scales (opacity only culls here)."""

    @staticmethod
    def forward(ctx, means, quats, scales, opacities, viewmat, K, width, height, near, far, eps2d):
        viewmat = viewmat.to(means.dtype).contiguous()
        means2d, conics, depths, radii, rects = _ext().project_fwd(
            means, quats, scales, opacities, viewmat, K, width, height, near, far, eps2d
        )
        ctx.save_for_backward(means, quats, scales, viewmat, K, radii)
        ctx.cfg = (width, height, eps2d)
        ctx.mark_non_differentiable(radii, rects)
        return means2d, conics, depths, radii, rects

    @staticmethod
    def backward(ctx, v_means2d, v_conics, v_depths, _v_radii, _v_rects):
        means, quats, scales, viewmat, K, radii = ctx.saved_tensors
        width, height, eps2d = ctx.cfg
        v_means, v_quats, v_scales = _ext().project_bwd(
            means,
            quats,
            scales,
            viewmat,
            K,
            width,
            height,
            eps2d,
            radii,
            _zeros_if_none(v_means2d, means[:, :2]),
            _zeros_if_none(v_conics, means),
            _zeros_if_none(v_depths, means[:, 0]),
        )
        return v_means, v_quats, v_scales, None, None, None, None, None, None, None, None


class RasterizeFn(torch.autograd.Function):
    """(means2d [N,2], conics [N,3], opacities [N], features [N,C], background [C], depths [N]
    (sort key only), radii [N], rects [N,4]) -> image [H,W,C] (background included), alpha [H,W,1],
    stats [8] float64 (sort s, binning s, blending s, pixel lanes evaluated, pairs blended,
    tile-Gaussian pairs). The forward also keeps, for the backward, each pixel's last blended index
    and each tile-list entry's pixel-block mask; need_grad=False (inference) skips both (a
    backward then raises)."""

    @staticmethod
    def forward(
        ctx,
        means2d,
        conics,
        opacities,
        features,
        background,
        depths,
        radii,
        rects,
        width,
        height,
        need_grad=True,
    ):
        keep = bool(need_grad)
        image, trans, last, offsets, ids, stats, masks = _ext().rasterize_fwd(
            means2d, conics, opacities, features, background, depths, radii, rects, width, height, keep
        )
        ctx.save_for_backward(
            means2d, conics, opacities, features, background, rects, offsets, ids, trans, last, masks
        )
        ctx.size = (width, height)
        ctx.mark_non_differentiable(stats)
        return image, (1 - trans).unsqueeze(-1), stats

    @staticmethod
    def backward(ctx, v_image, v_alpha, _v_stats):
        saved = ctx.saved_tensors
        means2d, conics, opacities, features, background, rects, offsets, ids, trans, last, masks = saved
        if last.numel() != trans.numel():
            raise RuntimeError("RasterizeFn: forward ran with need_grad=False, no backward possible")
        width, height = ctx.size
        v_image = _zeros_if_none(
            v_image,
            torch.empty(height, width, features.shape[1], dtype=features.dtype, device=features.device),
        )
        v_alpha = _zeros_if_none(v_alpha, trans.unsqueeze(-1)).reshape(height, width).contiguous()
        v_means2d, v_conics, v_opac, v_feat, v_bg = _ext().rasterize_bwd(
            means2d,
            conics,
            opacities,
            features,
            background,
            rects,
            offsets,
            ids,
            trans,
            last,
            masks,
            v_image,
            v_alpha,
            width,
            height,
        )
        return v_means2d, v_conics, v_opac, v_feat, v_bg, None, None, None, None, None, None
