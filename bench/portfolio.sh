#!/usr/bin/env bash
# Portfolio benchmark on the private `bench` stack: 200 buildings x 5 meters x 2 years of 15-minute readings in the
# database `energiblik_portfolio` (generated once, ~70 M readings, ~10 GB), rollups built by the product's rebuild
# command, consumption answers timed over HTTP. Figures: bench/results/portfolio.json; docs/benchmarks.md.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/on_stack.sh" bench/portfolio_bench.py "$@"
