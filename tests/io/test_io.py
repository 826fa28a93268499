import numpy as np
import pytest
import torch

from emogs.gaussians import GaussianSet
from emogs.io import export_ply, read_audio, read_ply, read_video_frames, write_video, write_wav


def test_wav_roundtrip_and_resample(tmp_path):
    sr = 16000
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_wav(tmp_path / "a.wav", x, sr)
    y = read_audio(tmp_path / "a.wav", sr)
    assert y.shape == x.shape
    assert np.abs(y - x).max() < 1e-3
    y8 = read_audio(tmp_path / "a.wav", 8000)
    assert abs(len(y8) - 8000) <= 64
    with pytest.raises(FileNotFoundError):
        read_audio(tmp_path / "missing.wav")


def test_video_with_audio_roundtrip(tmp_path):
    import av

    frames = [np.full((31, 32, 3), 20 * i, np.uint8) for i in range(10)]
    frames[3] = torch.full((31, 32, 3), 0.5)  # float torch frames accepted too
    audio = (0.3 * np.sin(2 * np.pi * 300 * np.arange(6400) / 16000)).astype(np.float32)
    path = write_video(tmp_path / "v.mp4", iter(frames), fps=25, audio=audio)
    back = read_video_frames(path)
    assert back.shape == (10, 32, 32, 3)  # padded to even height
    assert abs(float(back[5].mean()) - 100) < 4 and abs(float(back[3].mean()) - 128) < 4
    with av.open(str(path)) as c:
        assert len(c.streams.audio) == 1
        assert c.streams.video[0].average_rate == 25
    a = read_audio(path, 16000)
    assert abs(len(a) - 6400) < 2048
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "e.mp4", iter([]))
    with pytest.raises(ValueError, match="RGB"):
        write_video(tmp_path / "e.mp4", iter([np.zeros((4, 4))]))


def test_ply_export(tmp_path):
    g = GaussianSet.from_points(torch.randn(7, 3), torch.rand(7, 3), sh_degree=2)
    with torch.no_grad():
        g.params["shN"].normal_()
    d = read_ply(export_ply(g, tmp_path / "g.ply"))
    assert len(d) == 3 + 3 + 3 + 24 + 1 + 3 + 4
    assert np.allclose(d["x"], g.means[:, 0].detach().numpy())
    assert np.allclose(d["f_rest_0"], g.params["shN"][:, 0, 0].detach().numpy())  # channel-major
    assert np.allclose(d["f_rest_8"], g.params["shN"][:, 0, 1].detach().numpy())
    assert np.allclose(d["rot_0"], g.params["quats"][:, 0].detach().numpy())
