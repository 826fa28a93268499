"""MediaPipe face-mesh index groups: every named set of mesh vertices the project uses, defined once.

The 478-point mesh (468 face vertices + 2 x 5 iris points). Loops are ordered along the contour so
they can be drawn or filled as polygons; their sets equal mediapipe's FACEMESH_* connection sets
(tests/face/test_landmarks.py). "Left" / "right" are the *person's* sides, as in MediaPipe.
Groups are lists (numpy fancy-index them directly: `points[LIPS_INNER]` -> [20, C]); `sorted_group`
gives the sorted tuple form some consumers index by.
"""

from __future__ import annotations

NUM_POINTS = 478

LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
LIPS_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
RIGHT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
LEFT_EYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
RIGHT_BROW = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46]  # upper edge (outer -> inner), then lower
LEFT_BROW = [300, 293, 334, 296, 336, 285, 295, 282, 283, 276]
RIGHT_IRIS = [468, 469, 470, 471, 472]  # centre first, then the ring
LEFT_IRIS = [473, 474, 475, 476, 477]
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
NOSE = [1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327,
        344, 440]
MOUTH = sorted(set(LIPS_OUTER) | set(LIPS_INNER))  # all 40 lip points (FACEMESH_LIPS), sorted
IRISES = RIGHT_IRIS + LEFT_IRIS
# Points that move little with expression (forehead, nose bridge, eye corners, upper face oval):
# the rigid head pose of preprocess/camera.py.
RIGID = sorted({10, 338, 297, 332, 109, 67, 103, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1,
                33, 133, 263, 362, 130, 359, 226, 446, 127, 356, 234, 454, 162, 389, 21, 251,
                54, 284, 193, 417, 122, 351, 245, 465})
# A smaller rigid set for aligning two faces seen under different head poses before comparing their
# mouths (emogs.metrics): eye corners, nose bridge and tip, forehead, the face's sides at the temples.
ALIGN_POINTS = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 8, 234, 454, 127, 356)


def sorted_group(*groups: list[int]) -> tuple[int, ...]:
    """The union of index groups as a sorted tuple (e.g. `sorted_group(LEFT_EYE)`)."""
    return tuple(sorted(set().union(*groups)))
