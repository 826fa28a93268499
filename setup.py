"""Installs the `emogs`, `preprocess` and `demo_actor` packages, the tools in `tools/` (as the package
`emogs_tools`, with console entry points emogs-fit, emogs-render, ...) and builds the kernels in
`cuda_ext/`.

Every folder `cuda_ext/<name>/` (except `common/`) becomes one extension module
`emogs._ext_<name>`:

* its `*.cpp` files are always compiled (C++17, -O3, OpenMP): the CPU kernels and the
  thin torch binding;
* its `*.cu` files are compiled as well, with `-DEMOGS_WITH_CUDA`, when a CUDA build of
  torch and nvcc are present. `EMOGS_CUDA=1` forces the CUDA build (fails loudly when it
  cannot), `EMOGS_CUDA=0` skips it.

`EMOGS_ONLY=raster` (comma-separated) builds only those folders, for kernel development:
`EMOGS_ONLY=raster python setup.py build_ext --inplace`.

`cuda_ext/common/` holds the `__host__ __device__` headers shared by both.

Install with the torch already in the environment (keeps the pinned CPU torch, or your
CUDA torch):  `pip install --no-build-isolation -e .`
"""

import glob
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
EXT_ROOT = os.path.join("cuda_ext")


def _want_cuda() -> bool:
    flag = os.environ.get("EMOGS_CUDA", "auto").lower()
    if flag in ("0", "no", "false", "off"):
        return False
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME
    except ImportError:
        return False
    has_cuda = torch.version.cuda is not None and CUDA_HOME is not None
    if flag in ("1", "yes", "true", "on") and not has_cuda:
        raise RuntimeError(
            "EMOGS_CUDA=1 but no CUDA build of torch or no nvcc/CUDA_HOME was found. "
            "Install a CUDA torch (see README, 'GPU install') or unset EMOGS_CUDA."
        )
    return has_cuda


def _extensions():
    try:
        from torch.utils.cpp_extension import CppExtension, CUDAExtension
    except ImportError:  # metadata-only invocations (e.g. `pip show`) before torch exists
        return [], {}
    from torch.utils.cpp_extension import BuildExtension

    use_cuda = _want_cuda()
    common = os.path.join(EXT_ROOT, "common")
    cxx_flags = ["-O3", "-std=c++17", "-fopenmp", "-ffp-contract=off"]
    if os.environ.get("EMOGS_NATIVE", "0") == "1":
        cxx_flags.append("-march=native")
    exts = []
    for folder in sorted(glob.glob(os.path.join(EXT_ROOT, "*"))):
        name = os.path.basename(folder)
        if not os.path.isdir(folder) or name == "common":
            continue
        only = os.environ.get("EMOGS_ONLY")  # developers: rebuild one kernel family only
        if only and name not in only.split(","):
            continue
        cpp = sorted(glob.glob(os.path.join(folder, "*.cpp")))
        cu = sorted(glob.glob(os.path.join(folder, "*.cu")))
        if not cpp:
            continue
        kwargs = dict(
            name=f"emogs._ext_{name}",
            include_dirs=[os.path.join(HERE, common), os.path.join(HERE, folder)],
            extra_link_args=["-fopenmp"],
        )
        if use_cuda and cu:
            exts.append(
                CUDAExtension(
                    sources=cpp + cu,
                    define_macros=[("EMOGS_WITH_CUDA", "1")],
                    extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "--use_fast_math"]},
                    **kwargs,
                )
            )
        else:
            exts.append(CppExtension(sources=cpp, extra_compile_args={"cxx": cxx_flags}, **kwargs))
    return exts, {"build_ext": BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = _extensions()

setup(
    name="emogs",
    version="0.1.0",
    description="Emotion-controllable 3D Gaussian-splatting talking-head avatars, CPU first",
    packages=[*find_packages(include=["emogs", "emogs.*", "preprocess", "preprocess.*", "demo_actor",
                                      "demo_actor.*"]), "emogs_tools"],
    package_dir={"emogs_tools": "tools"},  # the CLIs in tools/, importable for the entry points below
    entry_points={"console_scripts": [
        "emogs-fit=emogs_tools.fit_person:main",
        "emogs-preprocess=preprocess.__main__:main",
        "emogs-render=emogs_tools.render:main",
        "emogs-evaluate=emogs_tools.evaluate:main",
        "emogs-viewer=emogs_tools.viewer:main",
        "emogs-make-demo-video=emogs_tools.make_demo_video:main",
        "emogs-check-demo-clip=emogs_tools.check_demo_clip:main",
    ]},
    python_requires=">=3.10",
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False,
)
