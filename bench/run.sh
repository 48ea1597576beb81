#!/usr/bin/env bash
# Run the ingest benchmark on the private `bench` stack (its own PostgreSQL + TimescaleDB and Mosquitto).
# Figures go to bench/results/ingest.json; docs/benchmarks.md reports them.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/on_stack.sh" bench/ingest_bench.py "$@"
