import numpy as np
import pytest
import torch

from emogs.viewer import (
    DriveSource,
    ViewerState,
    audio_window_at,
    frame_at,
    preset_names,
    render_view,
    rotate_about,
    view_conditions,
    with_preset,
)


@pytest.fixture(scope="module")
def src(toy_ds, toy_avatar):
    return DriveSource.from_dataset(toy_ds, toy_avatar)


@pytest.fixture(scope="module")
def feats(toy_ds):
    return np.asarray(toy_ds.audio_features, np.float32)


def _diff(a, b):
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def test_render_view_shape_and_matches_direct_render(toy_avatar, src, feats, toy_ds):
    st = ViewerState(resolution=48, pose="fixed", fixed_frame=2, time_s=0.2)
    img = render_view(toy_avatar, st, feats, src)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    # the same frame through the avatar's own API with the dataset's sample: identical pixels
    s = toy_ds[2]
    t = frame_at(0.2, toy_ds.fps, len(feats))
    assert t == 5
    from emogs.avatar import FrameConditions

    cond = FrameConditions(s.w2c, s.K, torch.from_numpy(audio_window_at(feats, t, 4, src.idle_audio)),
                           s.aus, torch.zeros(2), s.torso_background)
    ref = toy_avatar.render_frame(cond, 48, 48, image_size=toy_ds.size)["rgb"]
    np.testing.assert_array_equal(img, (ref.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy())


def test_valence_changes_the_image_only_through_the_emotion_branch(toy_ds, toy_avatar, src, feats,
                                                                   make_avatar):
    base = ViewerState(resolution=32, pose="fixed")
    a = render_view(toy_avatar, base, feats, src)
    b = render_view(toy_avatar, base.replace(valence=0.9), feats, src)
    c = render_view(toy_avatar, base.replace(valence=0.9, emotion=False), feats, src)
    assert _diff(a, b) > 0.1, "a non-zero emotion branch must respond to valence"
    # emotion off: valence is ignored
    np.testing.assert_array_equal(c, render_view(toy_avatar, base.replace(emotion=False), feats, src))
    # a fresh (zero-initialised) emotion branch is the identity: valence changes nothing
    fresh = make_avatar(toy_ds, active=False)
    f_src = DriveSource.from_dataset(toy_ds, fresh)
    np.testing.assert_array_equal(render_view(fresh, base, feats, f_src),
                                  render_view(fresh, base.replace(valence=0.9, arousal=-0.5), feats, f_src))


def test_audio_time_pose_and_blink_controls_act(toy_avatar, src, feats):
    st = ViewerState(resolution=32, pose="fixed")
    a = render_view(toy_avatar, st, feats, src)
    assert _diff(a, render_view(toy_avatar, st.replace(time_s=0.3), feats, src)) > 0.1  # new audio window
    assert _diff(a, render_view(toy_avatar, st.replace(pose="sliders", yaw_deg=25), feats, src)) > 1.0
    assert _diff(a, render_view(toy_avatar, st.replace(pose="frames", time_s=0.2), feats, src)) > 0.1
    # no audio loaded: the idle window, whatever the time
    idle = render_view(toy_avatar, st, None, src)
    np.testing.assert_array_equal(idle, render_view(toy_avatar, st.replace(time_s=0.3), None, src))


def test_view_conditions(src, feats):
    win = audio_window_at(feats, 3, 4, src.idle_audio)
    c = view_conditions(ViewerState(pose="fixed", fixed_frame=1, blink=4.0, valence=0.5), src, win)
    bi = src.blink_index
    assert float(c.aus[bi]) == 4.0 and float(c.aus[0]) == float(src.aus[1, 0])
    assert torch.equal(c.w2c, src.w2c[1]) and c.va.tolist() == [0.5, 0.0]
    c2 = view_conditions(ViewerState(pose="fixed", fixed_frame=1, emotion=False), src, win)
    assert c2.va is None and float(c2.aus[bi]) == float(src.aus[1, bi])
    # "frames" mode cycles back and forth through the training poses with time
    idx = [torch.equal(view_conditions(ViewerState(), src, win, t).w2c, src.w2c[k])
           for t, k in ((0, 0), (len(src) - 1, len(src) - 1), (len(src), len(src) - 2))]
    assert all(idx)
    # edge-padded windows as in training
    first = audio_window_at(feats, 0, 4, src.idle_audio)
    np.testing.assert_array_equal(first[:5], np.repeat(feats[:1], 5, 0))
    np.testing.assert_array_equal(first[5:], feats[1:5])


def test_rotate_about_keeps_the_pivot_and_is_identity_at_zero(src):
    w2c = src.w2c[0]
    assert torch.allclose(rotate_about(w2c, src.center, 0, 0), w2c)
    r = rotate_about(w2c, src.center, 30, -10)
    c = torch.tensor([*src.center, 1.0])
    assert torch.allclose(r @ c, w2c @ c, atol=1e-5)
    assert not torch.allclose(r, w2c)


def test_frontal_source_frames_the_head(toy_avatar):
    src = DriveSource.frontal(toy_avatar, size=64)
    img = render_view(toy_avatar, ViewerState(resolution=64), None, src)
    grey = round(0.35 * 255)
    centre, corner = img[28:36, 28:36].astype(int), img[:4, :4].astype(int)
    assert np.abs(corner - grey).max() <= 1 and np.abs(centre - grey).mean() > 10


def test_state_validation_and_presets(toy_avatar, src, feats):
    with pytest.raises(ValueError, match="valence"):
        ViewerState(valence=1.5).validate()
    with pytest.raises(ValueError, match="pose"):
        ViewerState(pose="orbit").validate()
    with pytest.raises(ValueError, match="blink"):
        ViewerState(blink=9).validate()
    assert preset_names()[0] == "neutral" and "happy" in preset_names()
    st = with_preset(ViewerState(), "happy", 1.0)
    assert st.valence > 0.5 and st.preset == "happy"
    assert with_preset(st, "neutral").va().tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="unknown emotion"):
        with_preset(st, "zzz")
    with pytest.raises(ValueError, match=r"expects \(9, 8\)"):
        render_view(toy_avatar, ViewerState(resolution=32), None, src, audio_window=np.zeros((9, 80)))
