#!/usr/bin/env bash
# Run the whole system locally: private TimescaleDB + Mosquitto (deploy/stack.sh), migrations, broker credentials,
# two ingest workers on a shared subscription, and the API (with its OpenAPI docs). Idempotent: running it again
# restarts the worker and API processes on the same stack. Stop everything with: bash deploy/stack.sh down
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ENERGIBLIK_PROFILE="${ENERGIBLIK_PROFILE:-dev}"
WORKERS="${ENERGIBLIK_WORKERS:-2}"

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

for i in $(seq 1 "$WORKERS"); do
  ENERGIBLIK_MQTT__CLIENT_ID="energiblik-ingest-$i" ENERGIBLIK_INGEST__METRICS_PORT=$((9107 + i)) \
    start "ingest-$i" "$PY" -m ingest
done
start rollups "$PY" -m ingest.rollups
start alerts "$PY" -m ingest.alerts
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
for p in rollups alerts; do
  kill -0 "$(cat "$RUN/$p.pid")" 2>/dev/null || { echo "$p process exited; see $RUN/$p.log" >&2; exit 1; }
done

cat <<MSG

Energiblik is running (profile $ENERGIBLIK_PROFILE):
  API            http://127.0.0.1:${ENERGIBLIK_API_PORT}/api/v1
  API docs       http://127.0.0.1:${ENERGIBLIK_API_PORT}/docs
  OpenAPI        http://127.0.0.1:${ENERGIBLIK_API_PORT}/api/v1/openapi.json
  MQTT broker    127.0.0.1:${ENERGIBLIK_MQTT__PORT}  (topics under energiblik/v1/buildings/{building_id}/...)
  Ingest metrics $(for i in $(seq 1 "$WORKERS"); do printf 'http://127.0.0.1:%s/metrics ' $((9107 + i)); done)
  Database       ${ENERGIBLIK_DB__URL}
  Admin token    ${ENERGIBLIK_ADMIN_TOKEN}
  Logs           $RUN/*.log
Broker credentials of a building: .venv/bin/energiblik broker-credentials <building_id>  (after sourcing
  <(bash deploy/stack.sh env)). Stop everything: bash deploy/stack.sh down
MSG
