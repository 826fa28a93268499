"""kill -9 at seeded random points of fit_person, then --resume: the same avatar as an uninterrupted run,
no partial files left behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from tool_helpers import TINY

from emogs.data.synthetic import write_toy_dataset

ROOT = Path(__file__).resolve().parents[2]
PRESET = (TINY.replace("checkpoint_every: 5", "checkpoint_every: 3")
          .replace("stages: {canonical: 6, networks: 6, fuse: 2, emotion: 4}",
                   "stages: {canonical: 12, networks: 12, fuse: 4, emotion: 8}"))


def fit(ds, out, preset, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "tools/fit_person.py", str(ds), "--out", str(out), "--preset",
                             str(preset), "--quiet", "--no-eval", "--fixed-schedule", *extra], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=300) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err


@pytest.mark.slow
def test_sigkill_then_resume_loses_nothing(tmp_path):
    ds = write_toy_dataset(tmp_path / "ds", num_frames=12, size=16, audio_dim=80, with_emotion=True)
    m = json.loads((ds / "manifest.json").read_text())
    m["audio_features"]["extractor"] = "logmel"
    (ds / "manifest.json").write_text(json.dumps(m))
    preset = tmp_path / "p.yaml"
    preset.write_text(PRESET)
    finish(fit(ds, tmp_path / "ref", preset))

    rng = np.random.default_rng(21)
    # kill points: after seeded random checkpoints (steps 3..33), plus a seeded random delay into the next
    # steps, so the kill lands anywhere: inside a step, while a checkpoint is written, between them
    targets = sorted(3 * rng.choice(np.arange(1, 12), size=3, replace=False))
    out = tmp_path / "killed"
    latest_file = out / "avatar" / "checkpoints" / "latest"
    log = out / "avatar" / "train.log"
    kills = 0

    def latest_step() -> int:
        try:
            return int(latest_file.read_text().strip().rsplit("_", 1)[-1])
        except (OSError, ValueError):
            return -1

    for attempt, target in enumerate(targets):
        proc = fit(ds, out, preset, *(["--resume"] if attempt else []))
        t0 = time.time()
        while latest_step() < target and proc.poll() is None and time.time() - t0 < 240:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.08))
        if proc.poll() is not None:  # finished before the kill
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        kills += 1
    else:
        proc = fit(ds, out, preset, "--resume")
    finish(proc)
    assert kills >= 2, "the run finished before it could be killed twice: make it longer"
    text = log.read_text()
    assert text.count("resumed from") >= 2, text[-2000:]

    av = out / "avatar"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "partial files left behind"
    latest = (av / "checkpoints" / "latest").read_text().strip()
    assert (av / "checkpoints" / latest / "avatar.safetensors").exists()
    ref = load_file(tmp_path / "ref" / "avatar" / "avatar.safetensors")
    got = load_file(av / "avatar.safetensors")
    assert ref.keys() == got.keys()
    for k in ref:  # the frame of step s depends only on (seed, s) and the optimiser state is checkpointed
        np.testing.assert_allclose(got[k], ref[k], atol=1e-4, err_msg=k)
