# The few commands a newcomer needs; each is also in the README.
.PHONY: run demo test test-postgres ci bench fuzz

run:            ## the service on http://127.0.0.1:8080 with SQLite
	swift run switchboard serve

demo:           ## the service plus a simulated demo tenant for the dashboard
	swift run switchboard demo

test:           ## the whole suite on SQLite
	swift test

test-postgres:  ## the whole suite on a local PostgreSQL (installs and starts it if needed; needs root)
	scripts/test-postgres.sh

fuzz:           ## schemathesis against docs/openapi.yaml
	scripts/fuzz-api.sh

bench:          ## every benchmark; figures for docs/PERFORMANCE.md
	bench/run-all.sh

ci:             ## what CI runs
	bash .ci/run
