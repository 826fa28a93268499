import cv2
import numpy as np
import pytest
from skimage import data

from emogs.emotion.blendshapes import BLENDSHAPE_NAMES
from emogs.emotion.reference import ReferenceConfig, blendshape_va, va_from_reference


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory):
    p = tmp_path_factory.mktemp("ref") / "face.png"
    cv2.imwrite(str(p), data.astronaut()[..., ::-1])
    return p


def test_photo_gives_one_keyframe(astronaut_png):
    traj = va_from_reference(astronaut_png)
    assert traj.times.tolist() == [0.0]
    v, a = traj.va[0]
    assert v > 0.4 and a > 0.0  # the smiling astronaut: happy (fer judge)
    both = va_from_reference(astronaut_png, ReferenceConfig(judge="both"))
    assert both.va[0, 0] > 0.2


def test_blendshape_va_reads_a_smile_as_positive():
    s = np.zeros(len(BLENDSHAPE_NAMES))
    s[[BLENDSHAPE_NAMES.index("mouthSmileLeft"), BLENDSHAPE_NAMES.index("mouthSmileRight")]] = 0.9
    v, a = blendshape_va(s)
    assert v > 0.5
    s[:] = 0
    s[BLENDSHAPE_NAMES.index("browInnerUp")] = 0.8
    s[[BLENDSHAPE_NAMES.index("mouthFrownLeft"), BLENDSHAPE_NAMES.index("mouthFrownRight")]] = 0.7
    assert blendshape_va(s)[0] < -0.3  # inner brows up + frown: sad


def test_clip_gives_a_trajectory_and_skips_faceless_frames(tmp_path):
    face = cv2.resize(data.astronaut(), (256, 256))
    blank = np.full_like(face, 90)
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 256))
    for k in range(20):  # 2 s at 10 fps; frames 10-14 without a face
        vw.write((blank if 10 <= k < 15 else face)[..., ::-1].copy())
    vw.release()
    traj = va_from_reference(path, ReferenceConfig(sample_fps=5.0, smooth_s=0.0))
    assert np.allclose(traj.times, [0.0, 0.2, 0.4, 0.6, 0.8, 1.6, 1.8])  # every 2nd frame, faces only
    assert np.all(traj.va[:, 0] > 0.4)
    assert traj.at_frames(25, 12.5).shape == (25, 2)
    bad = tmp_path / "blank.avi"
    vw = cv2.VideoWriter(str(bad), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    for _ in range(3):
        vw.write(np.zeros((64, 64, 3), np.uint8))
    vw.release()
    with pytest.raises(ValueError, match="no face"):
        va_from_reference(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        va_from_reference(tmp_path / "missing.mp4")
