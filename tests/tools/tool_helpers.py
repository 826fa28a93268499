"""Helpers of the tool tests (`from tool_helpers import ...`, like tests/preprocess/face_samples)."""

import importlib.util
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"

TINY = """
train_size: 16
stages: {canonical: 6, networks: 6, fuse: 2, emotion: 4}
model: {sh_degree: 1, num_face: 100, num_mouth: 20, face_hidden: 16, mouth_hidden: 16, emotion_hidden: 16,
        hash_levels: 4, hash_log2_table_size: 10, face_finest_resolution: 16, mouth_finest_resolution: 16}
densify: {refine_start: 4, refine_every: 4, refine_stop: 100, reset_every: 0, max_face: 200, max_mouth: 40}
checkpoint_every: 5
num_eval_frames: 1
"""


def load_tool(name):
    """tools/NAME.py as a module (its main(argv) -> exit code)."""
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", TOOLS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
