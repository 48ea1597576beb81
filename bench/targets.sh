#!/usr/bin/env bash
# Target answers at municipal scale on the private `bench` stack: a synthetic estate of N buildings (default 2,000;
# monthly rollups written directly) in the database `energiblik_targets_<N>`, the target/report/alert answers timed
# over HTTP and the portfolio view in headless Chromium. Figures: bench/results/targets_<N>.json; docs/benchmarks.md.
#   bash bench/targets.sh --buildings 2000 [--rounds 5 --requests 4 --loads 10]
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/on_stack.sh" bench/targets_bench.py "$@"
