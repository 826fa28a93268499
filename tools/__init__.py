"""The command-line tools, installed as the package `emogs_tools` (console entry points in setup.py:
emogs-fit, emogs-render, ...). Each is a thin CLI over the library; `python tools/NAME.py` works too."""
