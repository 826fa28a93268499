import numpy as np
import pytest
import torch

from emogs.avatar import AvatarConfig, build_avatar
from emogs.data import PersonDataset
from emogs.data.synthetic import write_toy_dataset
from emogs.fields import TriplaneConfig

SMALL_ENC = TriplaneConfig(num_levels=4, log2_table_size=10, base_resolution=4, finest_resolution=16)


@pytest.fixture(scope="session")
def toy_ds(tmp_path_factory):
    root = write_toy_dataset(tmp_path_factory.mktemp("viewer") / "ds", num_frames=12, size=32, audio_dim=8)
    return PersonDataset(root, split="train")


def _make_avatar(ds, with_emotion=True, active=True, seed=0):
    """A tiny avatar; `active` gives the zero-initialised deformation heads random weights so that
    audio / V/A visibly move the Gaussians (as after training)."""
    cfg = AvatarConfig(audio_dim=ds.audio_dim, aus_names=ds.aus_names, sh_degree=1, num_face=300,
                       num_mouth=40, face_hidden=16, mouth_hidden=16, emotion_hidden=16,
                       face_encoder=SMALL_ENC, mouth_encoder=SMALL_ENC, emotion_encoder=SMALL_ENC,
                       with_emotion=with_emotion, audio_extractor="logmel")
    t = np.load(ds.root / "camera.npz")["template"]
    img = (ds.image(0).numpy() * 255).astype(np.uint8)
    av = build_avatar(cfg, t, img, ds.w2c[0].numpy(), ds.K.numpy(), seed=seed)
    if active:
        g = torch.Generator().manual_seed(seed + 1)
        for net in (av.face_net, av.mouth_net, av.emotion_net):
            if net is None:
                continue
            last = [m for m in net.head.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.weight.copy_(torch.randn(last.weight.shape, generator=g) * 0.5)
    return av.eval()


@pytest.fixture(scope="session")
def make_avatar():
    return _make_avatar


@pytest.fixture(scope="session")
def toy_avatar(toy_ds):
    return _make_avatar(toy_ds)
