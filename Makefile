# The README's two commands (each installs what it needs into .venv first):
#   make toy     the CPU mini-study: the paper's experiment in miniature on its pre-registered seeds
#                (kit/toy, recipes/toy.yaml: study.seeds; two seeds at a time, one CPU thread each), then copied
#                into outputs/examples/toy (git diff shows what changed on this machine)
#   make test    the test suite
# and for a lecture hall: make toy-quick (recipes/toy-quick.yaml, two seeds, outputs/examples/toy-quick)
# and the quick pipeline check:
#   make smoke   every stage on a random-weight tiny Qwen3 and fixtures (recipes/smoke.yaml), outputs/smoke/
# On a machine whose pip would pick a CUDA torch, point TORCH_INDEX at PyTorch's CPU wheel index, e.g.
#   make test TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
PYTHON ?= python3
VENV ?= .venv
TORCH_INDEX ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: smoke toy toy-quick test install clean

$(STAMP): pyproject.toml requirements/cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_INDEX) "$$(grep '^torch==' requirements/cpu.txt)"
	$(PY) -m pip install -q -r requirements/cpu.txt
	$(PY) -m pip uninstall -q -y kit 2>/dev/null || true  # this venv's editable install before the rename
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

smoke: $(STAMP)
	$(PY) -m kit.run recipes/smoke.yaml

toy: $(STAMP)
	$(PY) -m kit.study recipes/toy.yaml --jobs 2
	$(PY) -m kit.toy.example recipes/toy.yaml outputs/examples/toy

toy-quick: $(STAMP)
	$(PY) -m kit.study recipes/toy-quick.yaml --jobs 2
	$(PY) -m kit.toy.example recipes/toy-quick.yaml outputs/examples/toy-quick

test: $(STAMP)
	TORCH_INDEX="$(TORCH_INDEX)" $(PY) -m pytest   # tests/test_packaging.py installs torch the same way

clean:
	rm -rf $(VENV) outputs/smoke outputs/.cache
