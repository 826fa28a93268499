"""Every `cuda_ext/*/*.cu` compiles with nvcc (compile only) for sm_75, sm_80 and sm_90.

The kernels cannot run on these machines, but they must keep compiling: the CPU tests cover the
shared `__host__ __device__` math, this test covers the CUDA syntax around it. Skipped without nvcc.
"""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CU_FILES = sorted(glob.glob(os.path.join(ROOT, "cuda_ext", "*", "*.cu")))
ARCHS = ("75", "80", "90")


def _nvcc():
    found = shutil.which("nvcc")
    if found:
        return found
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    cand = os.path.join(home, "bin", "nvcc")
    return cand if os.path.exists(cand) else None


NVCC = _nvcc()


@pytest.mark.slow
@pytest.mark.skipif(NVCC is None, reason="nvcc not found (compile-only CUDA check skipped)")
@pytest.mark.skipif(not CU_FILES, reason="no .cu files in cuda_ext/")
@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_cu_file_compiles_for_sm75_to_sm90(cu, tmp_path):
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHS]
    cmd = [
        NVCC,
        "-c",
        "-std=c++17",
        "-O1",
        *gencode,
        "-I",
        os.path.join(ROOT, "cuda_ext", "common"),
        "-I",
        os.path.dirname(cu),
        cu,
        "-o",
        str(tmp_path / "out.o"),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"nvcc failed for {cu}:\n{' '.join(cmd)}\n{res.stderr[-4000:]}"
