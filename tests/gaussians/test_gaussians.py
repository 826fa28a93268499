import math

import numpy as np
import pytest
import torch

from emogs.gaussians import (
    PARAM_KEYS,
    DensifyStrategy,
    GaussianSet,
    eval_sh_colors,
    gaussian_normals,
    init_eye_gaussians,
    init_face_gaussians,
    init_mouth_gaussians,
    make_optimizer,
    quat_to_rotmat,
    remove,
    sample_eyeballs,
    shortest_axis,
    split,
)
from emogs.gaussians.init import INNER_LIP_RING


def _template(seed=0):
    """A 478-point dome (x,y in [-0.1,0.1], z bulging towards the camera) with an open mouth ring."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.1, 0.1, (478, 2))
    ang = np.linspace(0, 2 * np.pi, len(INNER_LIP_RING), endpoint=False)
    xy[list(INNER_LIP_RING), 0] = 0.03 * np.cos(ang)
    xy[list(INNER_LIP_RING), 1] = 0.05 + 0.01 * np.sin(ang)
    z = 0.05 * (xy ** 2).sum(1) / 0.02 - 0.05
    t = np.concatenate([xy, z[:, None]], 1)
    return t.astype(np.float32)


def test_quat_to_rotmat_is_rotation():
    q = torch.randn(50, 4)
    r = quat_to_rotmat(q)
    eye = torch.eye(3).expand(50, 3, 3)
    assert torch.allclose(r @ r.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(50), atol=1e-5)
    # 90 degrees about z maps x to y
    q90 = torch.tensor([[math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)]])
    y = quat_to_rotmat(q90)[0] @ torch.tensor([1.0, 0, 0])
    assert torch.allclose(y, torch.tensor([0.0, 1, 0]), atol=1e-6)


def test_sh_degree0_is_colour_and_degree2_depends_on_view():
    rgb = torch.rand(10, 3)
    g = GaussianSet.from_points(torch.randn(10, 3), rgb, sh_degree=2)
    assert torch.allclose(g.colors(torch.zeros(3)), rgb, atol=1e-5)
    with torch.no_grad():
        g.params["shN"].normal_()
    c1 = g.colors(torch.tensor([0.0, 0, -1]))
    c2 = g.colors(torch.tensor([1.0, 0, 0]))
    assert not torch.allclose(c1, c2)
    with pytest.raises(ValueError, match="SH degree"):
        eval_sh_colors(3, g.sh, torch.randn(10, 3))


def test_shortest_axis_and_normals():
    q = torch.randn(20, 4)
    s = torch.rand(20, 3) + 0.5
    s[:, 1] = 0.01  # local y is the shortest
    ax = shortest_axis(q, s)
    assert torch.allclose(ax, quat_to_rotmat(q)[:, :, 1], atol=1e-6)
    means = torch.zeros(20, 3)
    campos = torch.tensor([0.0, 0.0, -1.0])
    n = gaussian_normals(q, s, torch.zeros(20, 3), means, campos)
    assert ((n * (campos - means)).sum(-1) >= 0).all()  # faces the camera
    assert torch.allclose(n.norm(dim=-1), torch.ones(20), atol=1e-5)
    # delta_n is a residual that changes the normal and receives gradients
    dn = torch.zeros(20, 3, requires_grad=True)
    gaussian_normals(q, s, dn, means, campos)[:, 0].sum().backward()
    assert dn.grad.abs().sum() > 0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="sh_degree"):
        GaussianSet.from_points(torch.randn(3, 3), sh_degree=3)
    with pytest.raises(ValueError, match="478"):
        init_face_gaussians(np.zeros((10, 3)), 100)
    bad = _template()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        init_face_gaussians(bad, 100)


def test_init_from_mesh_lies_on_the_face_and_mouth_inside_lips():
    t = _template()
    face = init_face_gaussians(t, 500, shell_fraction=0.2)
    assert len(face) == 500
    surf = face.means[:400].detach().numpy()
    assert np.all(surf[:, :2] >= t[:, :2].min(0) - 1e-6) and np.all(surf[:, :2] <= t[:, :2].max(0) + 1e-6)
    # points lie on the triangulated dome: z close to the dome function
    zdome = 0.05 * (surf[:, :2] ** 2).sum(1) / 0.02 - 0.05
    assert np.abs(surf[:, 2] - zdome).mean() < 0.01
    # flat discs: shortest axis close to the surface normal, facing -z
    n = shortest_axis(face.quats, face.scales)[:400]
    assert (n[:, 2].abs() > 0.5).float().mean() > 0.9
    mouth = init_mouth_gaussians(t, 200)
    m = mouth.means.detach().numpy()
    ring = t[list(INNER_LIP_RING)]
    assert np.all(np.abs(m[:, 0] - ring[:, 0].mean()) <= 0.035)
    assert np.all(m[:, 2] >= ring[:, 2].mean() - 1e-6)  # behind the lips


def _frontal_camera(size: int, focal: float) -> tuple[np.ndarray, np.ndarray]:
    """(w2c [4,4], K [3,3]): a camera 1 unit in front of the template, looking down +z."""
    w2c = np.eye(4, dtype=np.float32)
    w2c[2, 3] = 1.0
    K = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]], np.float32)
    return w2c, K


def test_colors_from_projection():
    t = _template()
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, :16] = [255, 0, 0]
    img[:, 16:] = [0, 0, 255]
    w2c, K = _frontal_camera(32, 100)
    g = init_face_gaussians(t, 300, shell_fraction=0.0, image=img, w2c=w2c, K=K)
    rgb = g.colors(torch.tensor([0.0, 0, -1]))
    left = g.means[:, 0] < -0.01
    right = g.means[:, 0] > 0.01
    assert (rgb[left, 0] > 0.9).all() and (rgb[right, 2] > 0.9).all()


def _template_with_eyes():
    """`_template` with two almond eye contours (y grows downwards, as in MediaPipe: the upper lid
    has the smaller y), 28 mm wide, on the plane z = -0.04, and their irises."""
    from emogs.face.eye_layer import IRIS_GROUPS, LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR

    t = _template().astype(np.float64)
    eyes = ((RIGHT_EYE_CONTOUR, -0.04, IRIS_GROUPS[0]), (LEFT_EYE_CONTOUR, 0.04, IRIS_GROUPS[1]))
    for contour, cx, grp in eyes:
        a = np.linspace(0, np.pi, 9)
        low = np.stack([cx - 0.014 * np.cos(a), -0.03 + 0.005 * np.sin(a)], 1)  # corner .. corner
        up = np.stack([cx + 0.014 * np.cos(a[1:-1]), -0.03 - 0.005 * np.sin(a[1:-1])], 1)
        t[list(contour), :2] = np.concatenate([low, up])
        t[list(contour), 2] = -0.04
        t[list(grp), :2] = [[cx, -0.03], [cx + 0.005, -0.03], [cx, -0.035], [cx - 0.005, -0.03], [cx, -0.025]]
        t[list(grp), 2] = -0.041
    return t.astype(np.float32)


def test_eyeballs_fill_each_eye_opening_grown_upwards_behind_the_lids():
    t = _template_with_eyes()
    pts = sample_eyeballs(t, 401, np.random.default_rng(0))
    assert pts.shape == (401, 3)
    for half, cx in ((pts[:201], -0.04), (pts[201:], 0.04)):  # half per eye (the odd one: the first)
        assert np.all(np.abs(half[:, 0] - cx) <= 0.6 * 0.028 + 1e-6)
        dy = half[:, 1] + 0.03  # > 0: below the eye's centre line
        assert dy.min() < -0.9 * 0.35 * 0.028 and dy.max() > 0.9 * 0.3 * 0.028  # up 0.35 w, down 0.3 w
        assert dy.min() >= -0.35 * 0.028 - 1e-6 and dy.max() <= 0.3 * 0.028 + 1e-6
        # under the upper lid (above the opening) there is eyeball to uncover
        assert (dy < -0.005).mean() > 0.12  # (a unit disc stretched: 0.19 of the points)
        np.testing.assert_allclose(half[:, 2], -0.04 + 0.08 * 0.028, atol=1e-6)  # behind the lids


def test_eyeball_colours_come_from_the_painted_frame():
    t = _template_with_eyes()
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = [250, 250, 250]  # the right eye's side white, the left eye's dark blue
    img[:, 32:] = [0, 0, 120]
    w2c, K = _frontal_camera(64, 300)
    g = init_eye_gaussians(t, 200, sh_degree=1, image=img, w2c=w2c, K=K)
    rgb = g.colors(torch.tensor([0.0, 0, -1]))
    assert len(g) == 200 and float(g.opacities.min()) > 0.85
    assert (rgb[:100] > 0.95).all() and (rgb[100:, 2] > 0.4).all() and (rgb[100:, 0] < 0.05).all()
    plain = init_eye_gaussians(t, 20)  # no frame: light grey
    assert (plain.colors(torch.tensor([0.0, 0, -1])) > 0.75).all()


def test_eyeballs_are_a_solid_layer():
    """Seen from the front, the eyeball discs cover their region without holes (a hole would show
    whatever the face set keeps behind the lids: the dark specks of the first fits)."""
    import cv2

    from emogs.render import rasterize

    t = _template_with_eyes()
    w2c, K = _frontal_camera(256, 2400)  # an eye ~60 px wide
    g = init_eye_gaussians(t, 1000, sh_degree=1)
    assert float(g.opacities.min()) > 0.98
    with torch.no_grad():
        out = rasterize(g.means, g.quats, g.scales, g.opacities, g.colors(torch.tensor([0.0, 0, -1])),
                        torch.from_numpy(w2c), torch.from_numpy(K), 256, 256, backend="torch")
    alpha = out.alpha[..., 0].numpy()
    pts = g.means.detach().numpy()
    uv = pts[:, :2] / (pts[:, 2:3] + 1.0) * 2400 + 128
    for half in (uv[:500], uv[500:]):  # each eye's region, shrunk by 3 px from its hull
        region = np.zeros((256, 256), np.uint8)
        cv2.fillConvexPoly(region, cv2.convexHull(half.astype(np.float32)).astype(np.int32), 1)
        inner = cv2.erode(region, np.ones((7, 7), np.uint8)) > 0
        assert inner.sum() > 1000 and float(alpha[inner].min()) > 0.9, float(alpha[inner].min())


def _set_with_grads(n=40):
    g = GaussianSet.from_points(torch.randn(n, 3) * 0.05, torch.rand(n, 3), sh_degree=1, scale=0.002)
    opt = make_optimizer(g, {k: 1e-3 for k in PARAM_KEYS})
    loss = sum((p ** 2).sum() for p in g.params.values())
    loss.backward()
    opt.step()
    return g, opt


def _check_aligned(g, opt):
    n = len(g)
    for k in PARAM_KEYS:
        p = g.params[k]
        assert p.shape[0] == n
        grp = [gr for gr in opt.param_groups if gr["name"] == k][0]
        assert grp["params"][0] is p
        st = opt.state[p]
        assert st["exp_avg"].shape == p.shape and st["exp_avg_sq"].shape == p.shape


def test_split_remove_keep_params_and_optimizer_state_aligned():
    g, opt = _set_with_grads()
    marker = torch.arange(40).float()
    with torch.no_grad():
        g.params["delta_n"][:, 0] = marker
    ea_before = opt.state[g.params["delta_n"]]["exp_avg"].clone()
    mask = torch.zeros(40, dtype=torch.bool)
    mask[[3, 7]] = True
    split(g, opt, mask)
    _check_aligned(g, opt)
    assert len(g) == 42
    # kept rows come first, then the two copies of 3 and of 7
    tail = g.params["delta_n"][-4:, 0].tolist()
    assert sorted(tail) == [3, 3, 7, 7]
    kept = [i for i in range(40) if i not in (3, 7)]
    assert torch.equal(opt.state[g.params["delta_n"]]["exp_avg"][:38], ea_before[kept])
    assert (opt.state[g.params["delta_n"]]["exp_avg"][38:] == 0).all()
    assert torch.allclose(g.params["log_scales"][-1], g.params["log_scales"][0] - math.log(1.6))
    rm = g.params["delta_n"][:, 0] == 5
    remove(g, opt, rm)
    _check_aligned(g, opt)
    assert 5 not in g.params["delta_n"][:, 0].tolist()
    # the optimizer still steps after the surgery
    sum((p ** 2).sum() for p in g.params.values()).backward()
    opt.step()


def test_strategy_densifies_high_gradient_and_prunes_transparent():
    g, opt = _set_with_grads(30)
    st = DensifyStrategy(refine_start=0, refine_every=1, reset_every=0, grow_grad2d=0.01, prune_opa=0.1)
    state = st.initialize_state(len(g))
    with torch.no_grad():
        g.params["opacity_logit"][:5] = -10.0  # prune these
    means2d = torch.zeros(30, 2, requires_grad=True)
    info = {"means2d": means2d, "radii": torch.ones(30), "width": 64, "height": 64}
    st.step_pre_backward(info)
    w = torch.zeros(30, 2)
    w[10:15] = 1.0  # high gradient for 10..14
    (means2d * w).sum().backward()
    out = st.step_post_backward(g, opt, state, step=1, info=info)
    assert out["duplicated"] + out["split"] == 5
    assert out["pruned"] == 5
    assert len(g) == 30
    _check_aligned(g, opt)
    assert state["grad2d"].shape[0] == len(g)
    # a set changed behind the strategy's back is reported
    remove(g, opt, torch.arange(len(g)) < 2)
    with pytest.raises(RuntimeError, match="initialize_state"):
        st.step_post_backward(g, opt, state, step=2, info=info)


def test_strategy_respects_budget():
    g, opt = _set_with_grads(30)
    st = DensifyStrategy(refine_start=0, refine_every=1, reset_every=0, grow_grad2d=0.0, max_gaussians=33,
                         prune_opa=0.0)
    state = st.initialize_state(30)
    state["grad2d"] += 1.0
    state["count"] += 1.0
    info = {"means2d": torch.zeros(30, 2), "radii": torch.ones(30), "width": 8, "height": 8}
    st.step_post_backward(g, opt, state, step=1, info=info)
    assert len(g) <= 33
    _check_aligned(g, opt)
