# The two set-up commands of the README: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv system-packages lint typecheck unit sample-config clean

run: $(STAMP)
	@bash scripts/install-system-packages.sh run
	$(VENV)/bin/ostia up $(ARGS)

test: $(STAMP)
	@bash scripts/install-system-packages.sh test
	$(VENV)/bin/ruff check ostia tests bench
	$(VENV)/bin/mypy ostia
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	@bash scripts/bootstrap-venv.sh $(VENV)
	@touch $(STAMP)

sample-config: $(STAMP)
	$(VENV)/bin/ostia config sample > etc/octavia.conf

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
