# Shortcuts for the README's two commands (scripts/run.sh and scripts/test.sh).
.PHONY: run test sample-config
run:
	@bash scripts/run.sh $(ARGS)

test:
	@bash scripts/test.sh $(PYTEST_ARGS)

sample-config:
	@bash scripts/bootstrap-venv.sh .venv
	.venv/bin/ostia config sample > etc/octavia.conf
