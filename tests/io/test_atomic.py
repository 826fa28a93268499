"""emogs.io.atomic: a failed write leaves the old file and no .tmp behind."""

import numpy as np
import pytest

from emogs.io.atomic import atomic_path, save_npy, save_text


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "a.npy"
    save_npy(path, np.arange(3))
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert np.load(path).tolist() == [0, 1, 2] and not list(tmp_path.glob("*.tmp"))
    save_text(tmp_path / "b.txt", "x")
    assert (tmp_path / "b.txt").read_text() == "x"
