#!/usr/bin/env bash
# Run a benchmark script on the private `bench` stack (its own PostgreSQL + TimescaleDB and Mosquitto, brought up
# if needed), with the stack's environment: bash bench/on_stack.sh bench/SCRIPT.py [arguments for the script].
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ENERGIBLIK_PROFILE=bench
bash "$REPO/deploy/stack.sh" up
set -a
# shellcheck disable=SC1090
source <(bash "$REPO/deploy/stack.sh" env)
set +a
cd "$REPO"
exec "$REPO/.venv/bin/python" "$@"
