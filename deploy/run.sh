#!/usr/bin/env bash
# Run the whole system locally: private TimescaleDB + Mosquitto (deploy/stack.sh), migrations, broker credentials,
# a simulated municipality (ENERGIBLIK_FLEET_SIZE buildings, default 100) with its history since 2015 written once,
# two ingest workers on a shared subscription, the rollup and alert processes, the API with its docs and dashboard,
# and the live simulation publishing over MQTT. Idempotent: running it again restarts the processes on the same
# stack (the history is kept). Stop everything with: bash deploy/stack.sh down
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ENERGIBLIK_PROFILE="${ENERGIBLIK_PROFILE:-dev}"
WORKERS="${ENERGIBLIK_WORKERS:-2}"
FLEET="${ENERGIBLIK_FLEET_SIZE:-100}"
SEED="${ENERGIBLIK_FLEET_SEED:-2015}"

bash "$REPO/deploy/stack.sh" up
set -a
# shellcheck disable=SC1090
source <(bash "$REPO/deploy/stack.sh" env)
set +a
RUN="$ENERGIBLIK_STATE/run"
mkdir -p "$RUN"
PY="$REPO/.venv/bin/python"

start() {  # name, log, command...
  local name="$1"; shift
  local pidf="$RUN/$name.pid"
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    kill -TERM "$(cat "$pidf")"
    for _ in $(seq 100); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.1; done
  fi
  nohup "$@" >>"$RUN/$name.log" 2>&1 &
  echo $! >"$pidf"
}

cd "$REPO"

# The estate's history (2015 until yesterday, 2015 baseline, degree days) through the product's own ingest code;
# skipped when it is there. Then the broker learns the new buildings' credentials.
"$PY" -m simulators.history --buildings "$FLEET" --seed "$SEED"
"$PY" -m services.cli broker-sync >/dev/null

for i in $(seq 1 "$WORKERS"); do
  ENERGIBLIK_MQTT__CLIENT_ID="energiblik-ingest-$i" ENERGIBLIK_INGEST__METRICS_PORT=$((9107 + i)) \
    start "ingest-$i" "$PY" -m ingest
done
ROLLUP_METRICS_PORT="${ENERGIBLIK_ROLLUPS__METRICS_PORT:-9118}"
ENERGIBLIK_ROLLUPS__METRICS_PORT="$ROLLUP_METRICS_PORT" start rollups "$PY" -m ingest.rollups
start alerts "$PY" -m ingest.alerts
# live meters and luminaires: catch up from where the history ends, then real time; a few realistic faults
start sim-1 "$PY" -m simulators.live --buildings "$FLEET" --seed "$SEED" --faults gaps,duplicates,late,garbage \
  --fault-rate 0.005
ENERGIBLIK_API_HOST=127.0.0.1 start api "$PY" -m api

for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:${ENERGIBLIK_API_PORT}/health" >/dev/null 2>&1 && break
  sleep 0.2
done
if ! curl -fsS "http://127.0.0.1:${ENERGIBLIK_API_PORT}/health" >/dev/null || ! kill -0 "$(cat "$RUN/api.pid")" 2>/dev/null; then
  echo "the API did not start (port ${ENERGIBLIK_API_PORT} taken by another program?); see $RUN/api.log" >&2
  exit 1
fi
for i in $(seq 1 "$WORKERS"); do
  kill -0 "$(cat "$RUN/ingest-$i.pid")" 2>/dev/null || { echo "ingest worker $i exited; see $RUN/ingest-$i.log" >&2; exit 1; }
done
for p in rollups alerts sim-1; do
  kill -0 "$(cat "$RUN/$p.pid")" 2>/dev/null || { echo "$p process exited; see $RUN/$p.log" >&2; exit 1; }
done

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
  Ingest metrics $(for i in $(seq 1 "$WORKERS"); do printf 'http://127.0.0.1:%s/metrics ' $((9107 + i)); done)
  Rollup metrics http://127.0.0.1:${ROLLUP_METRICS_PORT}/metrics  (energiblik_rollup_lag_seconds; /health)
  Database       ${ENERGIBLIK_DB__URL}
  Admin token    ${ENERGIBLIK_ADMIN_TOKEN}
  Facility mgr   $FM_TOKEN  (buildings: $FM_BUILDINGS)
  Logs           $RUN/*.log
Broker credentials of a building: .venv/bin/energiblik broker-credentials <building_id>  (after sourcing
  <(bash deploy/stack.sh env)). Stop everything: bash deploy/stack.sh down
MSG
