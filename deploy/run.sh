#!/usr/bin/env bash
# Run the whole system locally: private TimescaleDB + Mosquitto (deploy/stack.sh), migrations, broker credentials,
# a simulated municipality (ENERGIBLIK_FLEET_SIZE buildings, default 100) with its history since 2015 written once,
# two ingest workers on a shared subscription, the rollup and alert processes, the API with its docs and dashboard,
# and the live simulation publishing over MQTT, all kept alive by supervisord (deploy/supervise.py). Idempotent:
# running it again restarts the processes on the same stack (the history is kept). Status: bash deploy/stack.sh
# status. Stop everything with: bash deploy/stack.sh down
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ENERGIBLIK_PROFILE="${ENERGIBLIK_PROFILE:-dev}"
WORKERS="${ENERGIBLIK_WORKERS:-2}"
FLEET="${ENERGIBLIK_FLEET_SIZE:-100}"
SEED="${ENERGIBLIK_FLEET_SEED:-2015}"
METRICS_BASE="${ENERGIBLIK_METRICS_PORT_BASE:-9107}"  # worker i serves /metrics on METRICS_BASE + i

bash "$REPO/deploy/stack.sh" up
set -a
# shellcheck disable=SC1090
source <(bash "$REPO/deploy/stack.sh" env)
set +a
RUN="$ENERGIBLIK_STATE/run"
mkdir -p "$RUN"
PY="$REPO/.venv/bin/python"

cd "$REPO"

# The estate's history (2015 until the last full hour but one, 2015 baseline, degree days) through the product's own
# ingest code, with a progress bar and ETA on a terminal; skipped when it is there. 100 buildings took 193 s on a quiet
# machine before the rollup rebuild was made about twice as fast (README, "Known limitations": 20 buildings, issue
# 12's code vs now, 358 s / 285 s on the shared machine). Then the broker learns the new buildings' credentials.
"$PY" -m simulators.history --buildings "$FLEET" --seed "$SEED"
"$PY" -m services.cli broker-sync >/dev/null

# Processes started by an earlier run.sh without supervisord (pid files) would run twice: stop them.
for f in "$RUN"/*.pid; do
  [ -e "$f" ] && [ "$(basename "$f")" != supervisord.pid ] || continue
  kill -TERM "$(cat "$f")" 2>/dev/null && for _ in $(seq 600); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
done
# Optional (ENERGIBLIK_DEMO_ELOVERBLIK=1): the estate's electricity also through DataHub. A fake Eloverblik
# third-party API serves each main electricity meter's hourly truth under a GSRN; its DataHub twin meter (`<id>-dh`,
# a sub-meter, so nothing counts twice) is registered, and the sync scheduler is pointed at the fake. Off by
# default: it adds nothing to a plain run.
ELO_LINE=""
if [ "${ENERGIBLIK_DEMO_ELOVERBLIK:-0}" != 0 ]; then
  ELO_PORT="${ENERGIBLIK_FAKE_ELOVERBLIK_PORT:-8790}"
  export ENERGIBLIK_FAKE_ELOVERBLIK_REFRESH_TOKEN="${ENERGIBLIK_FAKE_ELOVERBLIK_REFRESH_TOKEN:-demo-refresh-token}"
  "$PY" -m simulators.fake_eloverblik --register --estate --buildings "$FLEET" --seed "$SEED"
  nohup "$PY" -m simulators.fake_eloverblik --estate --buildings "$FLEET" --seed "$SEED" --port "$ELO_PORT" \
    >"$RUN/fake-eloverblik.log" 2>&1 &
  echo $! >"$RUN/fake-eloverblik.pid"
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:${ELO_PORT}/thirdpartyapi/api/isalive" >/dev/null 2>&1 && break
    sleep 0.2
  done
  export ENERGIBLIK_SYNC__ELOVERBLIK__ENABLED=true
  export ENERGIBLIK_SYNC__ELOVERBLIK__BASE_URL="http://127.0.0.1:${ELO_PORT}/thirdpartyapi"
  export ENERGIBLIK_SYNC__ELOVERBLIK__REFRESH_TOKEN="$ENERGIBLIK_FAKE_ELOVERBLIK_REFRESH_TOKEN"
  ELO_LINE="  Eloverblik     fake third-party API http://127.0.0.1:${ELO_PORT}/thirdpartyapi (DataHub twins: <meter>-dh)"
fi
# Every process under supervisord (deploy/supervise.py writes $RUN/supervisord.conf): a program that crashes is
# started again, with a growing pause when it keeps failing at start; $RUN/supervisord.log has a line for each.
# Live meters and luminaires: catch up from where the history ends, then real time; a few realistic faults.
ROLLUP_METRICS_PORT="${ENERGIBLIK_ROLLUPS__METRICS_PORT:-9118}"
"$PY" deploy/supervise.py start --workers "$WORKERS" --metrics-port-base "$METRICS_BASE" \
  --rollups-metrics-port "$ROLLUP_METRICS_PORT" \
  --sim-args "--buildings $FLEET --seed $SEED --faults gaps,duplicates,late,garbage --fault-rate 0.005"

for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:${ENERGIBLIK_API_PORT}/health" >/dev/null 2>&1 && break
  sleep 0.2
done
if ! curl -fsS "http://127.0.0.1:${ENERGIBLIK_API_PORT}/health" >/dev/null; then
  echo "the API did not start (port ${ENERGIBLIK_API_PORT} taken by another program?); see $RUN/api.log" >&2
  exit 1
fi
# A program that exited at once is in BACKOFF (or FATAL) instead of STARTING/RUNNING.
if "$PY" deploy/supervise.py status | grep -Ev ' (STARTING|RUNNING) ' | grep -q .; then
  "$PY" deploy/supervise.py status >&2
  echo "a process did not start; see $RUN/<name>.log and $RUN/supervisord.log" >&2
  exit 1
fi

# a facility manager's token for the demo: the estate's first school and first daycare
FM_BUILDINGS="$("$PY" -c "from simulators.model import fleet; f = fleet($FLEET, $SEED)
print(' '.join(next(b.id for b in f if b.archetype.type == t) for t in ('school', 'daycare')))")"
# shellcheck disable=SC2046
FM_TOKEN="$("$PY" -m services.cli token create --name "demo facility manager" --role facility_manager \
  $(for b in $FM_BUILDINGS; do printf -- '--building %s ' "$b"; done) | tail -1)"

cat <<MSG

Energiblik is running (profile $ENERGIBLIK_PROFILE), with a simulated estate of $FLEET buildings (seed $SEED):
  Dashboard      http://127.0.0.1:${ENERGIBLIK_API_PORT}/   (sign in with the admin token below)
  API            http://127.0.0.1:${ENERGIBLIK_API_PORT}/api/v1
  API docs       http://127.0.0.1:${ENERGIBLIK_API_PORT}/docs
  OpenAPI        http://127.0.0.1:${ENERGIBLIK_API_PORT}/api/v1/openapi.json
  MQTT broker    127.0.0.1:${ENERGIBLIK_MQTT__PORT}  (topics under energiblik/v1/buildings/{building_id}/...)
  Ingest metrics $(for i in $(seq 1 "$WORKERS"); do printf 'http://127.0.0.1:%s/metrics ' $((METRICS_BASE + i)); done)
  Rollup metrics http://127.0.0.1:${ROLLUP_METRICS_PORT}/metrics  (energiblik_rollup_lag_seconds; /health)
  Database       ${ENERGIBLIK_DB__URL}
  Admin token    ${ENERGIBLIK_ADMIN_TOKEN}
  Facility mgr   $FM_TOKEN  (buildings: $FM_BUILDINGS)
  Logs           $RUN/*.log  (restarts: $RUN/supervisord.log; processes: bash deploy/stack.sh status)
Broker credentials of a building: .venv/bin/energiblik broker-credentials <building_id>  (after sourcing
  <(bash deploy/stack.sh env)). Stop everything: bash deploy/stack.sh down
MSG
if [ -n "$ELO_LINE" ]; then echo "$ELO_LINE"; fi
