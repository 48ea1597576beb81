#!/usr/bin/env bash
# Broker durability under kill -9 (bench/broker_durability.py) on the private `bench` stack. Extra arguments go to
# the script (--configs, --rate, --seconds, ...). Figures go to bench/results/broker_durability.json;
# docs/reliability.md reports them.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/on_stack.sh" bench/broker_durability.py "$@"
