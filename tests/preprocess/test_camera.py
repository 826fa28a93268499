import numpy as np
import pytest
import skimage.data
import torch

from emogs.face import landmarks as L
from emogs.face import topology as topo
from preprocess.camera import _rodrigues, fit_camera, initial_template, rotation_angles

S = 512


@pytest.fixture(scope="module")
def template():
    with L.FaceMeshDetector(video_mode=False) as det:
        pts = det(skimage.data.astronaut())[0].points
    return initial_template(pts[None], np.ones(1))


def _render(template, rv, tv, f, noise=0.0, seed=0):
    R = _rodrigues(torch.from_numpy(rv)).numpy()
    cam = np.einsum("tij,nj->tni", R, template) + tv[:, None]
    uv = cam[..., :2] / cam[..., 2:] * f + S / 2
    z = (cam[..., 2:] - cam[..., 2:].mean(1, keepdims=True)) * f / cam[..., 2:].mean(1, keepdims=True)
    lm = np.concatenate([uv, z], -1)
    return lm + np.random.default_rng(seed).normal(0, noise, lm.shape), R


def _rel_angle_err(Ra, Rb):
    """max angle (deg) between the relative rotations R_0^T R_t of two sequences."""
    ra = np.einsum("ji,tjk->tik", Ra[0], Ra)
    rb = np.einsum("ji,tjk->tik", Rb[0], Rb)
    d = np.einsum("tij,tij->t", ra, rb)
    return np.degrees(np.arccos(np.clip((d - 1) / 2, -1, 1))).max()


def test_template_frame(template):
    assert np.abs(template).max() <= 0.15
    assert template[topo.LEFT_EYE, 0].mean() > template[topo.RIGHT_EYE, 0].mean()  # x: to the image right
    assert template[152, 1] > template[10, 1]  # y: chin below forehead
    assert template[1, 2] < template[234, 2]  # z: nose tip nearer the camera than the cheek side
    assert abs(np.linalg.norm(template[263] - template[33]) - 0.09) < 1e-6


def test_follows_known_rotation_and_finds_focal(template):
    T = 50
    fov = 20.0
    f = S / 2 / np.tan(np.radians(fov) / 2)
    s = np.linspace(0, 2 * np.pi, T)
    rv = np.stack([np.radians(8) * np.sin(2 * s), np.radians(20) * np.sin(s), np.radians(5) * np.cos(s)], -1)
    tv = np.stack([0.01 * np.sin(s), 0.005 * np.cos(s), 0.7 + 0.02 * np.sin(s)], -1)
    lm, R = _render(template, rv, tv, f, noise=0.3)
    fit = fit_camera(lm, np.ones(T), S, smooth_sigma=0.0)
    assert abs(fit.K[0, 0] / f - 1) < 0.1, (fit.K[0, 0], f)
    assert _rel_angle_err(fit.w2c[:, :3, :3], R) < 1.5
    assert fit.reproj_err.mean() < 1.0
    assert fit.w2c.shape == (T, 4, 4) and fit.w2c.dtype == np.float32
    np.testing.assert_allclose(fit.w2c[:, 3], np.tile([0, 0, 0, 1], (T, 1)))
    # yaw sign: angles of the recovered sequence correlate with the truth
    yaw_fit = rotation_angles(fit.w2c[:, :3, :3])[:, 1]
    assert np.corrcoef(yaw_fit, np.degrees(rv[:, 1]))[0, 1] > 0.99


def test_robust_to_expression(template):
    """Mouth / jaw / brow motion (non-rigid) must not move the head pose."""
    T = 40
    rv = np.zeros((T, 3))
    tv = np.tile([0.0, 0.0, 0.7], (T, 1))
    lm, R = _render(template, rv, tv, 1400.0, noise=0.2)
    moving = np.array(sorted(set(topo.MOUTH) | set(topo.LEFT_BROW) | set(topo.RIGHT_BROW)
                             | {152, 148, 377, 176, 400}))
    opening = 25.0 * (np.sin(np.linspace(0, 6 * np.pi, T)) > 0)  # the mouth opens / closes abruptly
    lm[:, moving, 1] += opening[:, None]
    fit = fit_camera(lm, np.ones(T), S)
    ang = rotation_angles(fit.w2c[:, :3, :3])
    assert np.ptp(ang, axis=0).max() < 0.5, np.ptp(ang, axis=0)
    assert np.ptp(fit.w2c[:, :3, 3], axis=0).max() < 0.003


def test_fixed_focal_and_bad_input(template):
    lm, _ = _render(template, np.zeros((5, 3)), np.tile([0, 0, 0.7], (5, 1)), 1000.0)
    fit = fit_camera(lm, np.ones(5), S, focal=1000.0)
    assert fit.K[0, 0] == pytest.approx(1000.0)
    with pytest.raises(ValueError, match=r"\[T,478,3\]"):
        fit_camera(np.zeros((5, 68, 2)), np.ones(5), S)
