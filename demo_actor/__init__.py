"""The demo actor: a talking portrait generated from a real photo and speech, with exact ground truth.

Used to make the bundled clip in ``assets/demo/`` (``tools/make_demo_video.py --bundle``). See
docs/demo_actor.md.

    from demo_actor import synthesize, load_portrait, make_clip, ActorConfig
    speech = synthesize("Hello there.", voice="en-us+f3")
    make_clip(speech, "/tmp/clip", "hello", ActorConfig(size=512))
"""

from emogs.audio.tts import Phone, Speech, align_wav, concatenate, synthesize, write_wav

from .actor import PORTRAITS, ActorConfig, DemoActor, Portrait, load_portrait, make_clip, plan
from .bundle import make_bundle
from .face_rig import Expression, FaceRig, eye_aspect
from .life import EmotionSegment
from .pose import Pose
from .truth import load_truth, truth_statistics
from .video import ClipWriter, read_clip
from .visemes import VISEMES, mouth_tracks, phone_to_viseme

__all__ = [
    "PORTRAITS", "ActorConfig", "DemoActor", "Portrait", "load_portrait", "make_clip", "plan", "make_bundle",
    "Expression", "FaceRig", "eye_aspect", "EmotionSegment", "Pose", "Phone", "Speech", "align_wav",
    "concatenate", "synthesize", "write_wav", "load_truth", "truth_statistics", "ClipWriter", "read_clip",
    "VISEMES", "mouth_tracks", "phone_to_viseme",
]
