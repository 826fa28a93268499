import importlib.util
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("viser")

from emogs.avatar.store import save_avatar  # noqa: E402
from emogs.data import PersonDataset  # noqa: E402
from emogs.data.synthetic import write_toy_dataset  # noqa: E402
from emogs.io import write_wav  # noqa: E402

TOOL = Path(__file__).resolve().parents[2] / "tools" / "viewer.py"


def _tool():
    spec = importlib.util.spec_from_file_location("emogs_tool_viewer", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def avatar_dir(tmp_path_factory, make_avatar):
    tmp = tmp_path_factory.mktemp("cli")
    ds = PersonDataset(write_toy_dataset(tmp / "ds", num_frames=6, size=32, audio_dim=80))
    save_avatar(make_avatar(ds), tmp / "avatar", extra={"dataset": str(ds.root)})
    t = np.arange(8000) / 16000
    write_wav(tmp / "speech.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32))
    return tmp


def test_cli_serves_the_avatar_with_audio_and_stops_by_itself(avatar_dir, capsys):
    tool = _tool()
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("rc", tool.main([
        str(avatar_dir / "avatar"), "--audio", str(avatar_dir / "speech.wav"), "--port", "0",
        "--emotion", "happy:0.8", "--max-seconds", "4"])))
    t0 = time.monotonic()
    th.start()
    url = None
    while url is None and time.monotonic() - t0 < 30:
        out = capsys.readouterr().out
        for line in out.splitlines():
            if line.startswith("emogs viewer at "):
                url = line.split()[3]
        time.sleep(0.05)
    assert url and url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url + "/", timeout=10) as r:
        assert r.status == 200
    th.join(40)
    assert not th.is_alive() and result["rc"] == 0


def test_cli_errors(avatar_dir, tmp_path):
    tool = _tool()
    with pytest.raises(FileNotFoundError, match="not an emogs avatar folder"):
        tool.main([str(tmp_path), "--max-seconds", "0"])
    with pytest.raises(SystemExit, match="not both"):
        tool.main([str(avatar_dir / "avatar"), "--audio", "x.wav", "--live-port", "5"])
