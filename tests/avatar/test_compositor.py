import pytest
import torch

from emogs.avatar import composite, composite_alpha


def test_face_over_mouth_over_background_order():
    h = w = 4
    red, green, blue = torch.tensor([1.0, 0, 0]), torch.tensor([0, 1.0, 0]), torch.tensor([0, 0, 1.0])
    bg = blue.expand(h, w, 3)
    # opaque face everywhere in the left half, opaque mouth in the top half
    fa = torch.zeros(h, w, 1)
    fa[:, :2] = 1
    ma = torch.zeros(h, w, 1)
    ma[:2] = 1
    out = composite(red * fa, fa, green * ma, ma, bg)
    assert torch.equal(out[0, 0], red)  # face covers mouth
    assert torch.equal(out[0, 3], green)  # mouth covers background
    assert torch.equal(out[3, 3], blue)  # background only
    assert torch.equal(composite_alpha(fa, ma)[3, 3], torch.zeros(1))
    # half-transparent layers blend in order: 0.5 face + 0.5*(0.5 mouth + 0.5 bg)
    half = torch.full((h, w, 1), 0.5)
    out = composite(red * half, half, green * half, half, bg)
    assert torch.allclose(out[1, 1], torch.tensor([0.5, 0.25, 0.25]))
    assert torch.allclose(composite_alpha(half, half), torch.full((h, w, 1), 0.75))


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        composite(torch.zeros(4, 4, 3), torch.zeros(4, 4, 1), torch.zeros(4, 4, 3), torch.zeros(4, 4, 1),
                  torch.zeros(5, 5, 3))
