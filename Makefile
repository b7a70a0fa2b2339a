# The two commands that do everything on a fresh Debian 12 machine (as root):
#   make demo   installs what is missing, then runs the end-to-end demo
#   make test   installs what is missing, then runs the whole test suite
#   make demo-fleet  a rolling update with Ansible over three test hosts (docs/fleet.md)
PY := .venv/bin/python

.PHONY: deps install-cli demo demo-fleet test unit bench mutation clean

deps:
	./scripts/install-deps.sh

# the command on PATH, its man pages and shell completion (docs/operations.md, "The command line")
install-cli: deps
	./scripts/install-cli.sh

demo: deps install-cli
	$(PY) scripts/demo.py

demo-fleet: deps
	$(PY) scripts/demo_fleet.py

test: deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: deps
	$(PY) -m pytest -q tests/unit

bench: deps
	./scripts/install-deps.sh --bench
	$(PY) bench/run.py

# Mutation testing (docs/testing.md, "Mutation testing"): slow, not part of `make test`; run
# before each release. MODULES="deploy.deployment images.layers" restricts it.
mutation: deps
	./scripts/install-deps.sh --mutation
	$(PY) scripts/mutation.py $(MODULES)

clean:
	rm -rf .venv build src/*.egg-info .pytest_cache mutants
