"""Geometry face parsing on the real astronaut portrait (and warped versions), background plate."""

from __future__ import annotations

import numpy as np
import pytest
from face_samples import astronaut, closed_eyes, detect, mouth_series

from emogs.data.schema import BROWS, CLASS_NAMES, EYES, HAIR, LIPS, MOUTH, NECK, SKIN, TEETH, TORSO
from preprocess.parsing import FaceParser, colorize, estimate_background


@pytest.fixture(scope="module")
def parser():
    p = FaceParser()
    yield p
    p.close()


@pytest.fixture(scope="module")
def astro(parser):
    img = astronaut()
    pts = detect(img)
    return img, pts, parser(img, pts)


def _write_png(path, rgb):
    import cv2

    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_astronaut_regions_are_where_they_should_be(astro, tmp_path):
    img, pts, lab = astro
    _write_png(tmp_path / "astronaut_parsing.png", np.concatenate([img, colorize(lab)], 1))
    assert lab.shape == (512, 512) and lab.dtype == np.uint8 and lab.max() < len(CLASS_NAMES)
    counts = np.bincount(lab.ravel(), minlength=10)
    assert (counts > 0).all(), dict(zip(CLASS_NAMES, counts))
    at = lambda x, y: CLASS_NAMES[lab[int(y), int(x)]]  # noqa: E731
    # face parts at their landmarks
    assert at(*pts[468, :2]) == at(*pts[473, :2]) == "eyes"  # iris centres
    assert at(*pts[105, :2]) == at(*pts[334, :2]) == "brows"
    assert at(*pts[0, :2]) == at(*pts[17, :2]) == "lips"
    assert at(*pts[50, :2]) == at(*pts[280, :2]) == at(*pts[4, :2]) == "skin"  # cheeks, nose
    # hair above the face, background in the studio backdrop, torso = the spacesuit
    face_h = pts[152, 1] - pts[10, 1]
    assert at(pts[10, 0], pts[10, 1] - 0.15 * face_h) == "hair"
    assert at(350, 30) == at(20, 20) == at(480, 200) == "background"
    assert at(150, 400) == at(256, 480) == "torso"
    # the neck is skin below the jaw, between the jaw corners; most of the person is torso
    ys, xs = np.nonzero(lab == NECK)
    assert 300 < len(ys) < 3000
    assert ys.mean() > pts[[172, 397], 1].mean() and pts[172, 0] < xs.mean() < pts[397, 0]
    assert counts[TORSO] > counts[HAIR] > counts[SKIN] > counts[EYES]
    # hair is not skin-coloured: its mean colour is far from the cheeks'
    assert np.abs(img[lab == HAIR].mean(0) - img[lab == SKIN].mean(0)).sum() > 60


def test_teeth_are_bright_pixels_of_the_smile(astro):
    img, pts, lab = astro
    teeth = lab == TEETH
    assert teeth.sum() > 40
    grey = img.astype(float).mean(-1)
    redness = img[..., 0].astype(float) - img[..., 1]  # R - G: lips, gums, tongue are red
    assert grey[teeth].mean() > grey[lab == LIPS].mean() + 25
    assert grey[teeth].mean() > grey[lab == MOUTH].mean() + 15
    assert redness[teeth].mean() < redness[lab == MOUTH].mean() - 15
    assert redness[teeth].mean() < redness[lab == LIPS].mean() - 20
    # the smile shows a full row of teeth: most of the inner-lip area is teeth
    assert teeth.sum() > 0.4 * np.isin(lab, (MOUTH, TEETH)).sum()


def test_inside_mouth_grows_when_the_mouth_opens(parser, tmp_path):
    imgs, pts = mouth_series()
    labs = [parser(i, p) for i, p in zip(imgs, pts)]
    _write_png(tmp_path / "mouth_series.png", np.concatenate([colorize(x)[60:200, 160:290] for x in labs], 1))
    inside = [int(np.isin(x, (MOUTH, TEETH)).sum()) for x in labs]
    assert inside[0] < inside[1] < inside[2], inside
    assert inside[2] > 1.8 * inside[0], inside
    # the opening is dark cavity, not teeth: cavity class grows most
    cavity = [int((x == MOUTH).sum()) for x in labs]
    assert cavity[2] > cavity[0] + 100
    # the rest of the face stays put
    face = [int((x == SKIN).sum()) for x in labs]
    assert abs(face[2] - face[0]) < 0.1 * face[0]


def test_closed_eyes_shrink_the_eye_class(parser, astro):
    _, _, lab_open = astro
    img, pts = closed_eyes()
    lab = parser(img, pts)
    assert (lab == EYES).sum() < 0.4 * (lab_open == EYES).sum()
    assert (lab == BROWS).sum() > 0.7 * (lab_open == BROWS).sum()


def test_bad_inputs(parser, astro):
    img, pts, _ = astro
    with pytest.raises(ValueError, match="square"):
        parser(img[:500], pts)
    with pytest.raises(ValueError, match="square"):
        parser(img.astype(np.float32), pts)
    with pytest.raises(ValueError, match="478"):
        parser(img, pts[:468])


class _CountingFrames:
    """Array-like that records which frames are read (stands in for a memmap)."""

    def __init__(self, arr: np.ndarray):
        self.arr, self.read = arr, set()
        self.shape, self.ndim, self.dtype = arr.shape, arr.ndim, arr.dtype

    def __getitem__(self, idx):
        first = idx[0] if isinstance(idx, tuple) else idx
        self.read.add(int(first))
        return self.arr[idx]


def test_background_plate_from_a_moving_person(tmp_path):
    rng = np.random.default_rng(0)
    s, t = 96, 60
    bg = (astronaut()[::5, ::5][:s, :s]).copy()
    frames = np.repeat(bg[None], t, axis=0)
    labels = np.zeros((t, s, s), np.uint8)
    for k in range(t):  # a 'person' block sweeping left to right, with its own noisy colour
        x0 = int(k * (s - 30) / (t - 1))
        frames[k, 20:90, x0 : x0 + 30] = rng.integers(0, 255, (70, 30, 3), dtype=np.uint8)
        labels[k, 20:90, x0 : x0 + 30] = TORSO
    frames[:, 0:5, 0:5] = 0  # a corner that is always 'face': never background -> inpainted
    labels[:, 0:5, 0:5] = SKIN
    path = tmp_path / "frames.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=frames.shape)
    mm[:] = frames
    mm.flush()
    counting = _CountingFrames(np.load(path, mmap_mode="r"))
    plate = estimate_background(counting, labels, max_samples=16, margin=2)
    assert plate.shape == (s, s, 3) and plate.dtype == np.uint8
    assert len(counting.read) <= 16
    err = np.abs(plate.astype(int) - bg.astype(int))
    assert np.median(err[10:, 10:]) <= 2 and err[20:90, 10:][..., 0].mean() < 8
    # the never-seen corner is filled from its neighbours, not left black
    assert plate[0:5, 0:5].mean() > 0.5 * bg[5:10, 5:10].mean()


def test_background_errors():
    with pytest.raises(ValueError, match="must match"):
        estimate_background(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 7), np.uint8))
