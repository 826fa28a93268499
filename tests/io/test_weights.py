import pytest
import torch
from safetensors.torch import save_file

from emogs.io.weights import WeightsFileError, read_state_dict


class _NotATensor:  # pickled as an object: weights_only loading must refuse it
    pass


def test_reads_plain_nested_and_safetensors(tmp_path):
    sd = {"module.conv.weight": torch.ones(2, 3), "module.conv.bias": torch.zeros(2)}
    torch.save({"state_dict": sd}, tmp_path / "a.pth")
    got = read_state_dict(tmp_path / "a.pth", "Net")
    assert set(got) == {"conv.weight", "conv.bias"} and torch.equal(got["conv.weight"], torch.ones(2, 3))
    save_file({"x": torch.arange(3.0)}, str(tmp_path / "b.safetensors"))
    assert torch.equal(read_state_dict(tmp_path / "b.safetensors", "Net")["x"], torch.arange(3.0))
    torch.save({"g_ema": {"w": torch.ones(1)}}, tmp_path / "c.pt")
    assert set(read_state_dict(tmp_path / "c.pt", "G", nested_keys=("g_ema",))) == {"w"}


def test_refuses_missing_objects_and_non_dicts(tmp_path):
    with pytest.raises(FileNotFoundError, match="Net weights .* do not exist"):
        read_state_dict(tmp_path / "nope.pth", "Net")
    torch.save({"w": _NotATensor()}, tmp_path / "obj.pth")
    with pytest.raises(WeightsFileError, match="weights_only=True"):
        read_state_dict(tmp_path / "obj.pth", "Net")
    torch.save([torch.ones(1)], tmp_path / "list.pth")
    with pytest.raises(WeightsFileError, match="not a state dict"):
        read_state_dict(tmp_path / "list.pth", "Net")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WeightsFileError, match="safetensors"):
        read_state_dict(tmp_path / "junk.safetensors", "Net")
