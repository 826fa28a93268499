"""Train / validation splits: the standard one (validation = the last 1/11 of the frames, 10:1 as
the anchors do) and, optionally, an interleaved one (validation blocks spread over the clip).

A short real clip is not stationary (the expression drifts, a hand comes and goes): its last
1/11 can hold what no training frame shows, so the standard split alone mixes "cannot
generalise" with "never saw it". The interleaved blocks measure the avatar on frames whose
neighbourhood it saw; both are held out of training (`emogs.data.person.split_frames`).
"""

from __future__ import annotations


def train_val_split(num_frames: int, val_fraction: float = 1 / 11, interleaved_blocks: int = 0,
                    interleaved_fraction: float = 1 / 11) -> dict:
    """{"train": [0, a], "val": [a, T]} half-open ranges; at least one validation frame when T >= 2.

    interleaved_blocks > 0 adds "val_interleaved": that many blocks, together ~`interleaved_fraction`
    of the frames (each at least one frame), centred in equal sections of the training range [0, a)
    so they are spread over the clip and never touch the standard validation range. A clip too short
    to leave training frames between blocks gets fewer blocks (none below 3 training frames per block).
    """
    T = int(num_frames)
    if T < 1:
        raise ValueError(f"cannot split {T} frames")
    n_val = int(round(T * val_fraction))
    n_val = min(max(n_val, 1 if T >= 2 else 0), T - 1) if T >= 2 else 0
    a = T - n_val
    out = {"train": [0, a], "val": [a, T]}
    if interleaved_blocks > 0:
        blocks = int(interleaved_blocks)
        width = max(1, int(round(T * interleaved_fraction / blocks)))
        while blocks > 0 and a < blocks * (width + 2):  # keep training frames around every block
            blocks -= 1
        if blocks > 0:
            section = a / blocks
            starts = [int(round(section * (k + 0.5) - width / 2)) for k in range(blocks)]
            out["val_interleaved"] = [[s, s + width] for s in starts]
    return out
