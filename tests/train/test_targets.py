import torch

from emogs.emotion.au_mesh import LEFT_EYE, RIGHT_EYE
from emogs.train.targets import eye_boxes


def test_eye_boxes_hold_each_eye_with_a_margin_at_the_target_size():
    lm = torch.zeros(478, 3)
    lm[list(RIGHT_EYE), 0] = torch.linspace(100, 160, len(RIGHT_EYE))
    lm[list(RIGHT_EYE), 1] = torch.linspace(200, 220, len(RIGHT_EYE))
    lm[list(LEFT_EYE), 0] = torch.linspace(300, 360, len(LEFT_EYE))
    lm[list(LEFT_EYE), 1] = torch.linspace(205, 225, len(LEFT_EYE))
    boxes = eye_boxes(lm, 0.5, 256)  # a 512 frame's landmarks, targets at 256
    assert len(boxes) == 2
    for (y0, y1, x0, x1), eye in zip(boxes, (RIGHT_EYE, LEFT_EYE)):
        p = lm[list(eye), :2] * 0.5
        margin = 0.3 * float(p[:, 0].max() - p[:, 0].min())  # 9 px
        assert x0 <= p[:, 0].min() - margin + 1 and x1 >= p[:, 0].max() + margin
        assert y0 <= p[:, 1].min() - margin + 1 and y1 >= p[:, 1].max() + margin
        assert x1 - x0 < 60 * 0.5 + 2 * margin + 2  # and not much more
    # near the border: clipped to the image; non-finite landmarks: no box
    lm[list(LEFT_EYE), 0] += 200
    (_, _, _, x1) = eye_boxes(lm, 0.5, 256)[1]
    assert x1 == 256
    lm[list(RIGHT_EYE)] = float("nan")
    assert len(eye_boxes(lm, 0.5, 256)) == 1
