"""Reader of the `emotion/` sub-dataset (synthetic emotional frames, docs/dataset.md).

Each emotional frame j was made from real frame `source_index[j]`: its camera, audio window and
action units come from that frame; the image, parsing, normals, torso / background and target V/A are
its own. The AUs are the source frame's, not the ones measured on the emotional image: when driving,
AUs come from real frames (blinks, brows at rest) and only V/A carries the emotion, so the emotion
branch must learn the whole change from the source expression (given the edited AUs, the frozen
face net's AU path would explain part of the brow / lid motion and the branch would learn only the
rest: measured on the demo, its renders then moved the brows 0.1-0.5 px where the frames move 15).

    ds = PersonDataset(root, split="all", load_emotion=True)
    em = EmotionFrames(ds)
    sample = em[0]          # a FrameSample, va = the target V/A
"""

from __future__ import annotations

import numpy as np
import torch

from .person import FrameSample
from .schema import TORSO_CLASSES, DatasetError, decode_normals


class EmotionFrames:
    """The emotional frames of a PersonDataset opened with `load_emotion=True`.

    `train_only` (default) keeps the frames whose source frame is in the dataset's train split,
    so the validation frames stay unseen.
    """

    def __init__(self, dataset, train_only: bool = True):
        if getattr(dataset, "emotion", None) is None:
            raise DatasetError(
                f"{dataset.root}: the emotion/ frames are not loaded; open the dataset with "
                "PersonDataset(root, load_emotion=True) (and generate them with "
                f"`python -m preprocess VIDEO {dataset.root} --stages emotion` if missing)."
            )
        self.dataset = dataset
        em = dataset.emotion
        src = np.asarray(em["source_index"], dtype=np.int64)
        keep = np.arange(len(src))
        if train_only and "train" in dataset.manifest.get("split", {}):
            a, b = dataset.manifest["split"]["train"]
            keep = keep[(src >= a) & (src < b)]
        self.indices = keep
        self.source_index = src

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> FrameSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} emotional frames")
        ds, em = self.dataset, self.dataset.emotion
        j = int(self.indices[i])
        t = int(self.source_index[j])
        normals, valid = decode_normals(np.asarray(em["normals"][j]))
        image = torch.from_numpy(np.asarray(em["frames"][j], dtype=np.float32) / 255.0)
        parsing = torch.from_numpy(np.array(em["parsing"][j]))
        # torso / background: the emotional frame where its own parsing says neck / torso
        keep = torch.from_numpy(np.isin(parsing.numpy(), TORSO_CLASSES))[..., None]
        return FrameSample(
            index=t,
            image=image,
            parsing=parsing,
            normals=torch.from_numpy(normals),
            normal_valid=torch.from_numpy(valid),
            w2c=ds.w2c[t].clone(),
            K=ds.K.clone(),
            audio=ds.audio_window(t),
            aus=torch.from_numpy(np.array(ds.aus[t], dtype=np.float32)),
            va=torch.from_numpy(np.array(em["valence_arousal"][j], dtype=np.float32)),
            landmarks=torch.from_numpy(np.array(ds.landmarks[t], dtype=np.float32)),
            torso_background=torch.where(keep, image, ds.background),
            emotion_flow=(torch.from_numpy(np.asarray(em["flow"][j], dtype=np.float32))
                          if "flow" in em else None),
        )
