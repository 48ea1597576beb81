#!/usr/bin/env bash
# Run the whole test suite on a fresh machine or an old one: installs what is missing (Debian packages, TimescaleDB
# built from Debian's source package, the Python venv), brings up the private `test` stack (its own PostgreSQL +
# TimescaleDB and Mosquitto, ports 55442 and 51893), then lint, type checks and pytest. Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export ENERGIBLIK_PROFILE=test
bash deploy/stack.sh up
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest -q -p no:cacheprovider --durations=15 "$@"
