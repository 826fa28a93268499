"""Person datasets (docs/dataset.md): the contract (`schema`) and the reader used by training and
evaluation."""

from .person import FrameSample, PersonDataset, load_audio_features_for
from .schema import (
    CLASS_NAMES,
    FACE_CLASSES,
    INSIDE_MOUTH_CLASSES,
    TORSO_CLASSES,
    DatasetError,
    decode_normals,
    encode_normals,
    read_manifest,
)

__all__ = [
    "CLASS_NAMES", "FACE_CLASSES", "INSIDE_MOUTH_CLASSES", "TORSO_CLASSES", "DatasetError", "FrameSample",
    "PersonDataset", "decode_normals", "encode_normals", "load_audio_features_for", "read_manifest",
]
