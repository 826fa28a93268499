"""emogs: emotion-controllable 3D Gaussian-splatting talking-head avatars.

Data flow: video -> `preprocess` -> person dataset (docs/dataset.md) -> `emogs.train`
-> avatar -> `tools/render.py` / viewer / `tools/evaluate.py`.
"""

__version__ = "0.1.0"
