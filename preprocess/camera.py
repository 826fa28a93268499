"""Head pose + shared intrinsics from face-mesh landmarks.

World = the canonical head frame (docs/dataset.md): the head is static, the camera moves. We fit
jointly a person-specific rigid template (478 points, world units), one focal length shared by all
frames (square pixels, principal point at the crop centre) and a per-frame pose w2c, minimising a
robust (Cauchy) reprojection error over the expression-insensitive points `emogs.face.topology.RIGID`:

1. template0: Procrustes mean of MediaPipe's per-frame 3D meshes, rotated to a frontal frame
   (x: right eye -> left eye corner, y: forehead -> chin, z = x cross y, away from the camera),
   centred, scaled to a metric size (outer eye corners 9 cm apart; world units = metres).
2. focal: grid search over fields of view (PnP on a subsample of frames), then
3. joint refinement (template rigid points, log focal, poses of the subsample) by L-BFGS with
   Cauchy weights, the template held near template0 (this fixes the scale / depth gauge);
4. poses of all frames with template and focal fixed (batched robust L-BFGS from PnP starts);
5. zero-phase Gaussian smoothing of the poses (no lag), per-frame reprojection error recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emogs.face.topology import NUM_POINTS, RIGID

EYE_OUTER_R, EYE_OUTER_L, FOREHEAD, CHIN = 33, 263, 10, 152
EYE_DISTANCE_M = 0.09  # average adult distance between the outer eye corners


@dataclass
class CameraFit:
    """K [3,3] float32; w2c [T,4,4] float32; template [478,3] float32 (world); reproj_err [T] float32
    (mean pixel error over the rigid points); world_to_metres float."""

    K: np.ndarray
    w2c: np.ndarray
    template: np.ndarray
    reproj_err: np.ndarray
    world_to_metres: float

    def as_npz_dict(self) -> dict:
        return {"K": self.K, "w2c": self.w2c, "template": self.template, "reproj_err": self.reproj_err,
                "world_to_metres": np.float32(self.world_to_metres)}


def _procrustes_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R (3x3) minimising |R src_i - dst_i| for centred point sets [N,3]."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1, 1, d]) @ vt


def initial_template(landmarks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Frontal, centred, metric template [478,3] from MediaPipe meshes [T,478,3] (pixel units)."""
    good = np.flatnonzero(weights > 0)
    if len(good) == 0:
        raise ValueError("initial_template: no frame with a face")
    pick = good[np.linspace(0, len(good) - 1, min(len(good), 200)).astype(int)]
    shapes = []
    ref = None
    for t in pick:
        p = landmarks[t].astype(np.float64)
        p = p - p.mean(0)
        p /= np.linalg.norm(p[EYE_OUTER_L] - p[EYE_OUTER_R])
        if ref is None:
            ref = p
        else:
            R = _procrustes_rotation(p[RIGID], ref[RIGID])
            p = p @ R.T
        shapes.append(p)
    tmpl = np.median(np.stack(shapes), 0)
    # frontal axes
    x = tmpl[EYE_OUTER_L] - tmpl[EYE_OUTER_R]
    x /= np.linalg.norm(x)
    y = tmpl[CHIN] - tmpl[FOREHEAD]
    y -= x * (x @ y)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    tmpl = tmpl @ np.stack([x, y, z]).T
    tmpl -= (tmpl.max(0) + tmpl.min(0)) / 2
    tmpl *= EYE_DISTANCE_M / np.linalg.norm(tmpl[EYE_OUTER_L] - tmpl[EYE_OUTER_R])
    return tmpl


def lift(landmarks: np.ndarray, f: float, size: int) -> np.ndarray:
    """Undo the perspective of face meshes [T,478,3] (pixels; z = relative depth in pixel units) for a
    focal length f: each frame is placed at the depth where its eye corners are 9 cm apart and its
    points are back-projected. Returns [T,478,3] camera-space points (metres)."""
    lm = np.asarray(landmarks, np.float64)
    ipd = np.linalg.norm(lm[:, EYE_OUTER_L, :2] - lm[:, EYE_OUTER_R, :2], axis=-1)
    d = EYE_DISTANCE_M * f / np.maximum(ipd, 1e-6)  # [T] approx. depth of the face
    Z = d[:, None] + lm[..., 2] * (d / f)[:, None]
    X = (lm[..., 0] - size / 2) * Z / f
    Y = (lm[..., 1] - size / 2) * Z / f
    return np.stack([X, Y, Z], -1)


def _K(f: float, size: int) -> np.ndarray:
    return np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], np.float64)


def _pnp(obj: np.ndarray, img: np.ndarray, K: np.ndarray, refine: bool = True):
    """PnP (SQPnP, then iterative refinement) -> (rvec [3], tvec [3], mean pixel error or nan)."""
    import cv2

    obj, img = np.ascontiguousarray(obj, np.float64), np.ascontiguousarray(img, np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        rvec, tvec = np.zeros((3, 1)), np.array([[0.0], [0.0], [0.6]])
    if not refine:
        return rvec.reshape(3), tvec.reshape(3), float("nan")
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    proj, _ = cv2.projectPoints(obj, rvec, tvec, K, None)
    err = float(np.linalg.norm(proj[:, 0] - img, axis=-1).mean())
    return rvec.reshape(3), tvec.reshape(3), err


def _rodrigues(r: torch.Tensor) -> torch.Tensor:
    """[N,3] axis-angle -> [N,3,3] (differentiable, safe at 0)."""
    theta2 = (r * r).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-24)
    k = r / theta
    K = torch.zeros(r.shape[0], 3, 3, dtype=r.dtype)
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=r.dtype).expand_as(K)
    return eye + s * K + (1 - c) * (K @ K)


def _project(tmpl: torch.Tensor, rvec: torch.Tensor, tvec: torch.Tensor, f: torch.Tensor, c: float):
    R = _rodrigues(rvec)
    if tmpl.dim() == 2:
        cam = torch.einsum("tij,nj->tni", R, tmpl) + tvec[:, None]
    else:
        cam = torch.einsum("tij,tnj->tni", R, tmpl) + tvec[:, None]
    z = cam[..., 2:].clamp_min(1e-6)
    return cam[..., :2] / z * f + c


def _robust_fit(obs, w, tmpl0, rvec, tvec, logf, c, sigma, fit_template: bool, fit_focal: bool = False,
                iters: int = 60):
    """Minimise sum_t w_t sum_n log(1 + (e_tn / sigma)^2) (Cauchy) by L-BFGS (scipy; gradients from
    torch autograd, float64). Returns (rvec, tvec, logf, template) tensors / floats.

    (scipy rather than torch.optim: torch.optim's first step imports torch._dynamo, ~8 s.)
    """
    from scipy.optimize import minimize

    obs = torch.as_tensor(np.asarray(obs), dtype=torch.float64)
    w = torch.as_tensor(np.asarray(w), dtype=torch.float64)
    t0 = torch.as_tensor(np.asarray(tmpl0), dtype=torch.float64)
    rvec = torch.as_tensor(np.asarray(rvec), dtype=torch.float64)
    tvec = torch.as_tensor(np.asarray(tvec), dtype=torch.float64)
    T, N = rvec.shape[0], t0.shape[0]
    sizes = [T * 3, T * 3] + ([N * 3] if fit_template else []) + ([1] if fit_focal else [])
    x0 = np.concatenate([rvec.numpy().ravel(), tvec.numpy().ravel()]
                        + ([np.zeros(N * 3)] if fit_template else [])
                        + ([np.array([logf])] if fit_focal else []))
    n_obs = float(w.sum() * obs.shape[1]) or 1.0

    def unpack(x):
        parts = torch.split(x, sizes)
        rv, tv = parts[0].view(T, 3), parts[1].view(T, 3)
        k = 2
        delta = parts[k].view(N, 3) if fit_template else torch.zeros_like(t0)
        k += fit_template
        lf = parts[k][0] if fit_focal else torch.tensor(float(logf), dtype=torch.float64)
        return rv, tv, delta, lf

    def fun(xn):
        x = torch.from_numpy(xn).requires_grad_(True)
        rv, tv, delta, lf = unpack(x)
        uv = _project(t0 + delta, rv, tv, lf.exp(), c)
        e2 = ((uv - obs) ** 2).sum(-1) / sigma**2
        loss = (w[:, None] * torch.log1p(e2)).sum() / n_obs
        if fit_template:  # keep the template near the initial one: fixes the scale / depth gauge
            loss = loss + 10.0 * ((delta / 0.01) ** 2).mean()
        loss.backward()
        return float(loss.detach()), x.grad.numpy().copy()

    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": iters, "gtol": 1e-10, "ftol": 1e-14})
    rv, tv, delta, lf = unpack(torch.from_numpy(res.x))
    return rv.detach(), tv.detach(), float(lf), (t0 + delta).detach()


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0 or len(x) < 3:
        return x
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma, axis=0, mode="nearest")


def fit_camera(*args, **kwargs) -> CameraFit:
    """See `_fit_camera`. Runs torch single-threaded: the problem is small and thread hand-offs cost
    more than they save (very much so on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_camera(*args, **kwargs)
    finally:
        torch.set_num_threads(n)


def _fit_camera(landmarks: np.ndarray, conf: np.ndarray, size: int, focal_candidates: int = 9,
               smooth_sigma: float = 0.7, focal: float | None = None,
               max_joint_frames: int = 120) -> CameraFit:
    """Fit template, shared focal and per-frame poses.

    Args:
        landmarks: [T,478,3] face mesh (pixels of the S x S crop).
        conf: [T] per-frame confidence (0 = interpolated frame: weighted low, pose still estimated).
        size: S. focal: fix the focal length (pixels) instead of searching it.
    """
    landmarks = np.asarray(landmarks, np.float64)
    T = len(landmarks)
    if landmarks.shape[1:] != (NUM_POINTS, 3):
        raise ValueError(f"fit_camera expects [T,478,3] landmarks, got {landmarks.shape}")
    w = np.clip(np.asarray(conf, np.float64), 0.05, 1.0)
    rig = np.array(RIGID)
    obs = landmarks[:, rig, :2]
    c = size / 2.0
    sigma = 2.0 * size / 512.0

    sub = np.linspace(0, T - 1, min(T, max_joint_frames)).astype(int)
    if focal is None:
        # for each candidate focal: lift the meshes with it, build the template, measure PnP error.
        # The right focal makes the frames' shapes agree across head poses; a small prior towards a
        # ~21 degree field of view (typical of talking-head crops) breaks ties when the head barely turns.
        fovs = np.linspace(8.0, 50.0, max(focal_candidates, 2))
        errs = []
        probe = sub[np.linspace(0, len(sub) - 1, min(len(sub), 30)).astype(int)]
        tsub = sub[np.linspace(0, len(sub) - 1, min(len(sub), 60)).astype(int)]
        for fov in fovs:
            f = c / np.tan(np.radians(fov) / 2)
            tm = initial_template(lift(landmarks[tsub], f, size), np.asarray(conf)[tsub])
            e = np.mean([_pnp(tm[rig], obs[t], _K(f, size))[2] for t in probe])
            errs.append(e * (1 + 0.02 * abs(np.log(fov / 21.0))))
        k = int(np.argmin(errs))
        if 0 < k < len(fovs) - 1:  # parabola through the three best
            e0, e1, e2 = errs[k - 1], errs[k], errs[k + 1]
            den = e0 - 2 * e1 + e2
            step = 0.5 * (e0 - e2) / den if den > 0 else 0.0
            fov = fovs[k] + np.clip(step, -1, 1) * (fovs[1] - fovs[0])
        else:
            fov = fovs[k]
        f0 = c / np.tan(np.radians(fov) / 2)
    else:
        f0 = float(focal)
    tmpl = initial_template(lift(landmarks, f0, size), np.asarray(conf))

    # joint refinement on the subsample
    K0 = _K(f0, size)
    starts = [_pnp(tmpl[rig], obs[t], K0) for t in sub]
    rv = np.stack([s[0] for s in starts])
    tv = np.stack([s[1] for s in starts])
    _, _, logf, trig = _robust_fit(obs[sub], w[sub], tmpl[rig], rv, tv, np.log(f0), c, sigma,
                                   fit_template=True, fit_focal=False)
    f = float(np.exp(logf))
    tmpl = tmpl.copy()
    tmpl[rig] = trig.numpy()

    # all frames, template and focal fixed
    K = _K(f, size)
    starts = [_pnp(tmpl[rig], obs[t], K, refine=False) for t in range(T)]
    rv = np.stack([s[0] for s in starts])
    tv = np.stack([s[1] for s in starts])
    rv_t, tv_t, _, _ = _robust_fit(obs, w, tmpl[rig], rv, tv, logf, c, sigma, fit_template=False, iters=40)
    rv, tv = _smooth(rv_t.numpy(), smooth_sigma), _smooth(tv_t.numpy(), smooth_sigma)

    R = _rodrigues(torch.from_numpy(rv)).numpy()
    w2c = np.zeros((T, 4, 4), np.float32)
    w2c[:, :3, :3] = R
    w2c[:, :3, 3] = tv
    w2c[:, 3, 3] = 1
    uv = _project(torch.from_numpy(tmpl[rig]), torch.from_numpy(rv), torch.from_numpy(tv),
                  torch.tensor(f, dtype=torch.float64), c).numpy()
    err = np.linalg.norm(uv - obs, axis=-1).mean(1).astype(np.float32)

    world_to_metres = 1.0
    extent = np.abs(tmpl).max()
    if extent > 0.15:  # keep the template inside the hash grids' [-0.15, 0.15]^3
        s = 0.145 / extent
        tmpl *= s
        w2c[:, :3, 3] *= s
        world_to_metres = 1.0 / s
    return CameraFit(K.astype(np.float32), w2c, tmpl.astype(np.float32), err, world_to_metres)


def rotation_angles(R: np.ndarray) -> np.ndarray:
    """[...,3,3] -> [...,3] (pitch about x, yaw about y, roll about z) in degrees, R = Rz Ry Rx."""
    R = np.asarray(R)
    yaw = np.degrees(np.arcsin(np.clip(-R[..., 2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(R[..., 2, 1], R[..., 2, 2]))
    roll = np.degrees(np.arctan2(R[..., 1, 0], R[..., 0, 0]))
    return np.stack([pitch, yaw, roll], -1)
