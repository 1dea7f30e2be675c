# `make train` and `make test` work on a fresh machine: each creates the virtual environment
# and installs the project from its own files when that hasn't happened yet.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Extra arguments for the training run, e.g. `make train ARGS="loss=bce early_stopping.patience=5"`.
ARGS ?=
# The quickstart: EmberFormer on the embedded data, sized to finish in minutes on a 2-core CPU
# (conf/experiment/quickstart.yaml, which the GPU check trains too).
QUICKSTART := experiment=quickstart hardware=cpu

export HF_HUB_OFFLINE ?= 1

.PHONY: train test gpu-check setup setup-dev clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# Tests also build the simulator (pyretechnics, a Cython build of ~2 min) and the sweep plugins.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,simulate,sweep,dashboard]'
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

train: $(VENV)/.installed
	$(PY) -m emberformer.train $(QUICKSTART) $(ARGS)

test: $(VENV)/.installed-dev
	WANDB_MODE=offline $(PY) -m pytest -q -rs $(ARGS)

# Check a CUDA GPU and record its figures (BENCHMARKS.md "GPU"); a dry run on the CPU without one,
# e.g. `make gpu-check ARGS="out=gpu.json rows=gpu.md scale_root=/data/scale"`.
gpu-check: $(VENV)/.installed-dev
	WANDB_MODE=offline $(PY) -m emberformer.bench.gpu_check $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
