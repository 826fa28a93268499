"""Triangle list of the MediaPipe face mesh, derived from the installed mediapipe package.

mediapipe 0.10.21 ships the mesh only as an edge set (``FACEMESH_TESSELATION``: 1322 undirected
edges over 468 vertices), not as triangles. The triangles are recovered as the 3-cliques of that
edge graph (854), minus the 2 "separating" cliques that are not faces: a clique whose three edges
are each shared by three cliques (the real surface has at most two faces per edge). The result,
852 triangles, satisfies Euler's formula for a disc with three holes (V - E + F = 468 - 1322 + 852
= -2) and its 88 boundary edges are exactly the face oval (36), the two eye openings (16 + 16) and
the inner lip loop (20) - checked in tests/preprocess/test_normals.py.

``face_triangles(fill_eyes=True)`` closes the eye openings with a fan around the iris centre
(points 468 / 473 of the 478-point mesh); the mouth stays open. All triangles are oriented
consistently (each interior edge is used once in each direction).
"""

from __future__ import annotations

import functools
from collections import defaultdict, deque

import numpy as np

from .topology import LEFT_EYE, LEFT_IRIS, RIGHT_EYE, RIGHT_IRIS

RIGHT_IRIS_CENTRE, LEFT_IRIS_CENTRE = RIGHT_IRIS[0], LEFT_IRIS[0]


def tessellation_edges() -> np.ndarray:
    """Undirected edges of the MediaPipe face mesh, int64 [1322, 2] (sorted pairs)."""
    try:
        from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION
    except ImportError as err:  # pragma: no cover - mediapipe is a hard requirement
        raise ImportError("the face-mesh topology comes from mediapipe==0.10.21; install it.") from err
    return np.array(sorted({tuple(sorted(e)) for e in FACEMESH_TESSELATION}), dtype=np.int64)


def _cliques(edges: np.ndarray) -> list[tuple[int, int, int]]:
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adj[int(a)].add(int(b))
        adj[int(b)].add(int(a))
    tris = set()
    for a, b in edges:
        for c in adj[int(a)] & adj[int(b)]:
            tris.add(tuple(sorted((int(a), int(b), int(c)))))
    return sorted(tris)


def _edge_counts(tris) -> dict[tuple[int, int], int]:
    count: dict[tuple[int, int], int] = defaultdict(int)
    for t in tris:
        for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])):
            count[tuple(sorted(e))] += 1
    return count


def _orient(tris: list[tuple[int, int, int]]) -> np.ndarray:
    """Flip triangles so that neighbours traverse their shared edge in opposite directions."""
    tris = [list(t) for t in tris]
    by_edge: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, t in enumerate(tris):
        for k in range(3):
            by_edge[tuple(sorted((t[k], t[(k + 1) % 3])))].append(i)
    done = [False] * len(tris)
    for seed in range(len(tris)):
        if done[seed]:
            continue
        done[seed] = True
        queue = deque([seed])
        while queue:
            i = queue.popleft()
            t = tris[i]
            for k in range(3):
                u, v = t[k], t[(k + 1) % 3]
                for j in by_edge[tuple(sorted((u, v)))]:
                    if j == i or done[j]:
                        continue
                    s = tris[j]
                    # same direction u->v in s means inconsistent: flip s
                    if any(s[m] == u and s[(m + 1) % 3] == v for m in range(3)):
                        s[1], s[2] = s[2], s[1]
                    done[j] = True
                    queue.append(j)
    return np.array(tris, dtype=np.int64)


@functools.lru_cache(maxsize=2)
def face_triangles(fill_eyes: bool = True) -> np.ndarray:
    """Consistently oriented triangles of the face mesh, int64 [F, 3] (852, or 884 with eyes filled).

    The winding's sign is arbitrary but shared by all triangles: orient normals per frame
    (e.g. towards the camera for the face's visible side).
    """
    cliques = _cliques(tessellation_edges())
    count = _edge_counts(cliques)
    tris = [
        t
        for t in cliques
        if not all(count[tuple(sorted(e))] >= 3 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))
    ]
    if fill_eyes:
        for loop, centre in ((RIGHT_EYE, RIGHT_IRIS_CENTRE), (LEFT_EYE, LEFT_IRIS_CENTRE)):
            for k in range(len(loop)):
                tris.append((loop[k], loop[(k + 1) % len(loop)], centre))
    return _orient(tris)
