#!/usr/bin/env bash
# Broker durability under kill -9 (bench/broker_durability.py) on the private `bench` stack. Extra arguments go to
# the script (--configs, --rate, --seconds, ...). Figures go to bench/results/broker_durability.json;
# docs/reliability.md reports them.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ENERGIBLIK_PROFILE=bench
bash "$REPO/deploy/stack.sh" up
set -a
# shellcheck disable=SC1090
source <(bash "$REPO/deploy/stack.sh" env)
set +a
cd "$REPO"
exec "$REPO/.venv/bin/python" bench/broker_durability.py "$@"
