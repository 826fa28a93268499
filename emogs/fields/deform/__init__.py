"""Manipulation networks: per-Gaussian deformations driven by audio, action units and valence/arousal.

Each net owns a tri-plane hash encoder of the canonical positions and predicts offsets for every Gaussian
(TalkingGaussian's motion networks, plus the emotion branch f_E of EmoTalkingGaussian):

* `MouthDeformNet`  f_M(x, audio)          -> d_xyz                    (inside-mouth Gaussians)
* `FaceDeformNet`   f_F(x, audio, AUs)     -> d_xyz, d_rot, d_scale    (face Gaussians)
* `EmotionDeformNet` f_E(x', valence/arousal) -> d_xyz                 (on top of the face deformation)

One module per branch (`face`, `mouth`, `emotion`; the audio code in `audio`; the shared types and the
one application of offsets to Gaussians, `deform_gaussians`, in `common`). Conventions of the outputs:
`xyz + d_xyz`; `normalize(rot + d_rot)` (a residual on the unnormalised quaternion); `log_scale + d_scale`.
All output layers are zero-initialised,
so an untrained net leaves the canonical Gaussians exactly in place. d_xyz is the head output times
`xyz_scale` (1e-2, as TalkingGaussian), which keeps early offsets small at the usual learning rates.

Audio input is one frame's window `[2W+1, D]` of dataset features (`audio_features.npy` is [T, D]; the
reader assembles W=4), or a single frame `[D]` (no attention then). `D` must equal the net's `audio_dim`.
"""

from emogs.fields.deform.audio import AudioAttention, AudioEncoder
from emogs.fields.deform.common import INFER_CHUNK, DeformOutput, SpatialFeatures, deform_gaussians
from emogs.fields.deform.emotion import AU_MAX, EmotionDeformNet
from emogs.fields.deform.face import BLINK_AU, TALKINGGAUSSIAN_AUS, FaceDeformNet, au_indices
from emogs.fields.deform.mouth import MouthDeformNet

__all__ = [
    "AU_MAX",
    "BLINK_AU",
    "INFER_CHUNK",
    "TALKINGGAUSSIAN_AUS",
    "AudioAttention",
    "AudioEncoder",
    "DeformOutput",
    "EmotionDeformNet",
    "FaceDeformNet",
    "MouthDeformNet",
    "SpatialFeatures",
    "au_indices",
    "deform_gaussians",
]
