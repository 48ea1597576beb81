#!/usr/bin/env bash
# Run the ingest benchmark on the private `bench` stack (its own PostgreSQL + TimescaleDB and Mosquitto).
# Figures go to bench/results/ingest.json; docs/benchmarks.md reports them.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ENERGIBLIK_PROFILE=bench
bash "$REPO/deploy/stack.sh" up
set -a
# shellcheck disable=SC1090
source <(bash "$REPO/deploy/stack.sh" env)
set +a
cd "$REPO"
exec "$REPO/.venv/bin/python" bench/ingest_bench.py "$@"
