# emogs: `make demo` (set up, fit the bundled demo avatar, render it) and `make test`.
# Everything is idempotent: a second `make test` reuses .venv and the built extension.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
export OMP_NUM_THREADS ?= 2

KERNELS := $(wildcard cuda_ext/*/*.cpp cuda_ext/*/*.cu cuda_ext/*/*.h cuda_ext/common/*.h)

.PHONY: demo test install sysdeps testdeps build lint bench clean gpu-check

install: sysdeps $(VENV)/.installed $(VENV)/.built

# System packages the tests and the demo generator use (espeak-ng speaks the test audio).
sysdeps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq espeak-ng >/dev/null; }

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel setuptools
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -r requirements-nodeps.txt
	touch $@

# The C++ (and, with a CUDA torch, CUDA) kernels; rebuilt when a kernel source changes.
$(VENV)/.built: $(VENV)/.installed setup.py $(KERNELS)
	$(PIP) install -q --no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.built

# The headless browser of the viewer test (tests/viewer/test_browser.py; ~95 s once). Without it
# (no root, no apt) the test skips and says why.
testdeps:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	  || echo "note: chromium could not be installed; the browser test will be skipped"; }

test: install testdeps
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

# On a machine with a CUDA GPU and a CUDA torch (README, "GPU install"): builds the CUDA kernels,
# compares them with the torch reference, times a short 512 px fit and rendering (~4 min); JSON last line.
# Without a GPU it says so and exits 0.
gpu-check: install
	$(PY) tools/gpu_check.py

bench: install
	$(PY) tools/bench_render.py
	$(PY) tools/bench_hashgrid.py

# The bundled demo: fit the avatar (quick preset), then make it speak audio it never heard,
# neutral and with an emotion. Outputs land in out/demo/.
DEMO_OUT ?= out/demo
demo: install
	$(PY) tools/fit_person.py assets/demo/demo.mp4 --out $(DEMO_OUT) --preset quick
	$(PY) tools/render.py $(DEMO_OUT)/avatar --audio assets/demo/heldout.wav --out $(DEMO_OUT)/avatar/heldout_neutral.mp4
	$(PY) tools/render.py $(DEMO_OUT)/avatar --audio assets/demo/heldout.wav --out $(DEMO_OUT)/avatar/heldout_surprise.mp4 --emotion surprise:strong
	$(PY) tools/evaluate.py $(DEMO_OUT)/avatar --audio assets/demo/heldout.wav --truth assets/demo/heldout_truth.npz --truth-video assets/demo/heldout.mp4
	@echo "demo done: see $(DEMO_OUT)/avatar/ (videos, eval.json, heldout_*.mp4)"

clean:
	rm -rf build *.egg-info emogs/_ext_*.so out
