#!/usr/bin/env bash
# The local stack: a private PostgreSQL 15 + TimescaleDB cluster and a private Mosquitto, each with its own data
# directory, port and configuration, so the machine's own services stay untouched.
#
#   deploy/stack.sh setup        install what is missing (Debian packages, TimescaleDB, the Python venv, the
#                                dashboard's npm packages, chromium for the browser tests)
#   deploy/stack.sh up           setup, start PostgreSQL, migrate, write broker credentials, start Mosquitto
#   deploy/stack.sh down         stop everything this stack started (supervisord and the processes under it, broker,
#                                database)
#   deploy/stack.sh status       what runs (with the state of each supervised process)
#   deploy/stack.sh pg-stop|pg-start, mqtt-stop|mqtt-start   stop or start only PostgreSQL or Mosquitto
#   deploy/stack.sh env          print the environment (ENERGIBLIK_*) that points programs at this stack
#
# ENERGIBLIK_PROFILE selects an independent stack (dev: the default, test: the one the test suite uses, bench: the
# benchmarks').
# Every step is idempotent.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE="${ENERGIBLIK_PROFILE:-dev}"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
VENV="${ENERGIBLIK_VENV:-$REPO/.venv}"
PY="$VENV/bin/python"

case "$PROFILE" in
  dev)  PG_PORT="${ENERGIBLIK_PG_PORT:-55432}"; MQTT_PORT="${ENERGIBLIK_MQTT_PORT:-51883}"; API_PORT="${ENERGIBLIK_API_PORT:-8000}";;
  test) PG_PORT="${ENERGIBLIK_PG_PORT:-55442}"; MQTT_PORT="${ENERGIBLIK_MQTT_PORT:-51893}"; API_PORT="${ENERGIBLIK_API_PORT:-8010}";;
  bench) PG_PORT="${ENERGIBLIK_PG_PORT:-55452}"; MQTT_PORT="${ENERGIBLIK_MQTT_PORT:-51903}"; API_PORT="${ENERGIBLIK_API_PORT:-8020}";;
  test2) PG_PORT="${ENERGIBLIK_PG_PORT:-55462}"; MQTT_PORT="${ENERGIBLIK_MQTT_PORT:-51913}"; API_PORT="${ENERGIBLIK_API_PORT:-8030}";;
  *)    echo "unknown ENERGIBLIK_PROFILE=$PROFILE (dev, test, test2 or bench)" >&2; exit 2;;
esac

# PostgreSQL runs as the postgres user, which must be able to reach its data directory.
default_state="$REPO/.stack/$PROFILE"
if [ -z "${ENERGIBLIK_STATE:-}" ]; then
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$REPO" 2>/dev/null; then
    default_state="/var/lib/energiblik/$(basename "$REPO")-$(echo "$REPO" | md5sum | cut -c1-8)/$PROFILE"
  fi
fi
STATE="${ENERGIBLIK_STATE:-$default_state}"
PGDATA="$STATE/pg"
MQ="$STATE/mosquitto"
RUN="$STATE/run"
SECRETS="$STATE/secrets.env"
DB_NAME=energiblik

log() { printf '[stack:%s] %s\n' "$PROFILE" "$*"; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_debian_packages() {
  local need=()
  dpkg -s "postgresql-${PG_MAJOR}" >/dev/null 2>&1 || need+=("postgresql-${PG_MAJOR}")
  dpkg -s mosquitto >/dev/null 2>&1 || need+=(mosquitto)
  dpkg -s mosquitto-clients >/dev/null 2>&1 || need+=(mosquitto-clients)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing Debian packages: ${need[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
  fi
}

ensure_venv() {
  local stamp="$VENV/.energiblik-installed"
  if [ ! -x "$PY" ]; then
    python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
  fi
  # Reinstall only when pyproject.toml changed since the last install.
  if [ ! -f "$stamp" ] || [ "$REPO/pyproject.toml" -nt "$stamp" ]; then
    log "installing Python packages into $VENV"
    "$PY" -m pip install -q --upgrade pip >/dev/null 2>&1
    "$PY" -m pip install -q -e "$REPO[dev]" >"$VENV/pip-install.log" 2>&1 || { cat "$VENV/pip-install.log" >&2; exit 1; }
    touch "$stamp"
  fi
}

# The dashboard's chart library (api/web/package.json, served by the API: no CDN at run time) and the headless
# browser the dashboard tests drive (Debian's chromium; Playwright cannot download browsers here).
ensure_web() {
  local web="$REPO/api/web" stamp="$REPO/api/web/node_modules/.energiblik-installed"
  if ! command -v npm >/dev/null 2>&1; then
    log "installing Debian packages: npm"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq npm >/dev/null
  fi
  if [ ! -f "$stamp" ] || [ "$web/package-lock.json" -nt "$stamp" ]; then
    log "installing the dashboard's npm packages (npm ci in api/web)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian packages: chromium"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
  fi
}

ensure_secrets() {
  mkdir -p "$STATE"
  if [ ! -f "$SECRETS" ]; then
    umask 077
    {
      echo "ENERGIBLIK_ADMIN_TOKEN=eb_admin_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "ENERGIBLIK_BROKER__SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "ENERGIBLIK_MQTT__PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } > "$SECRETS"
  fi
}

print_env() {
  ensure_secrets
  cat "$SECRETS"
  cat <<EOF
ENERGIBLIK_PROFILE=$PROFILE
ENERGIBLIK_STATE=$STATE
ENERGIBLIK_DB__URL=postgresql+psycopg://postgres@127.0.0.1:${PG_PORT}/${DB_NAME}
ENERGIBLIK_MQTT__HOST=127.0.0.1
ENERGIBLIK_MQTT__PORT=${MQTT_PORT}
ENERGIBLIK_MQTT__USERNAME=energiblik-ingest
ENERGIBLIK_BROKER__PASSWORD_FILE=$MQ/passwd
ENERGIBLIK_BROKER__ACL_FILE=$MQ/acl
ENERGIBLIK_BROKER__PID_FILE=$MQ/mosquitto.pid
ENERGIBLIK_API_PORT=${API_PORT}
ENERGIBLIK_PG_PORT=${PG_PORT}
ENERGIBLIK_PGDATA=$PGDATA
EOF
}

load_env() {
  set -a
  # shellcheck disable=SC1090
  source <(print_env)
  set +a
}

pg_running() { as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

pg_up() {
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $PGDATA"
    mkdir -p "$PGDATA"
    chown -R postgres:postgres "$STATE" 2>/dev/null || true
    chmod 700 "$PGDATA"
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PGDATA/postgresql.conf" <<EOF
# energiblik private cluster
listen_addresses = '127.0.0.1'
port = ${PG_PORT}
unix_socket_directories = '${PGDATA}'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 200
shared_buffers = 1GB
work_mem = 32MB
maintenance_work_mem = 256MB
wal_buffers = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
synchronous_commit = on
log_min_messages = warning
EOF
  fi
  if ! pg_running; then
    log "starting PostgreSQL on 127.0.0.1:${PG_PORT}"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null
  fi
  if ! as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atqc "select 1 from pg_database where datname='${DB_NAME}'" postgres | grep -q 1; then
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB_NAME"
  fi
}

mosquitto_running() { [ -f "$MQ/mosquitto.pid" ] && kill -0 "$(cat "$MQ/mosquitto.pid")" 2>/dev/null; }

mosquitto_up() {
  mkdir -p "$MQ/data"
  # The limits below are what keeps QoS 1 lossless with a consumer that acknowledges only after its batch committed:
  # the broker must allow more unacknowledged messages in flight than the worker holds between commits, and must
  # queue a whole backlog for a persistent session while the worker is away (shared/reference/ingest-measurements.md).
  cat > "$MQ/mosquitto.conf" <<EOF
# generated by deploy/stack.sh (profile ${PROFILE}); do not edit
per_listener_settings false
listener ${MQTT_PORT} 127.0.0.1
allow_anonymous false
password_file $MQ/passwd
acl_file $MQ/acl
persistence true
persistence_location $MQ/data/
# 30 s, not shorter: see the measurements in deploy/mosquitto/mosquitto.conf and docs/reliability.md
autosave_interval 30
max_inflight_messages ${ENERGIBLIK_BROKER_MAX_INFLIGHT:-20000}
max_queued_messages ${ENERGIBLIK_BROKER_MAX_QUEUED:-5000000}
max_queued_bytes 0
# Memory bounds: what the worker may hold unacknowledged in bytes, and the largest packet a client may send. Payloads
# between the worker's own limit (256 KiB) and this one are dead-lettered with a reason; larger packets make the
# broker disconnect the publisher.
max_inflight_bytes 67108864
max_packet_size 4194304
persistent_client_expiration 30d
log_dest file $MQ/mosquitto.log
log_type error
log_type warning
log_type notice
pid_file $MQ/mosquitto.pid
user root
EOF
  if ! mosquitto_running; then
    log "starting Mosquitto on 127.0.0.1:${MQTT_PORT}"
    mosquitto -d -c "$MQ/mosquitto.conf"
    for _ in $(seq 50); do mosquitto_running && break; sleep 0.1; done
    mosquitto_running || { log "Mosquitto did not start; see $MQ/mosquitto.log"; exit 1; }
  fi
}

stop_pidfile() {  # pid file, seconds to wait after SIGTERM before SIGKILL (default 10)
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $(( ${2:-10} * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_setup() {
  ensure_debian_packages
  bash "$REPO/deploy/timescaledb.sh"
  ensure_venv
  ensure_web
}

cmd_up() {
  cmd_setup
  ensure_secrets
  load_env
  pg_up
  log "running migrations"
  (cd "$REPO" && "$PY" -m alembic -c "$REPO/migrations/alembic.ini" upgrade head >/dev/null)
  log "writing broker password and ACL files"
  mkdir -p "$MQ"
  "$PY" -m services.cli broker-sync --no-reload >/dev/null
  mosquitto_up
  kill -HUP "$(cat "$MQ/mosquitto.pid")"
}

cmd_down() {
  load_env
  # supervisord stops its programs (SIGTERM, then SIGKILL after each one's stopwaitsecs, at most 90 s) and exits
  stop_pidfile "$RUN/supervisord.pid" 120
  # processes started by run.sh before it used supervisord
  stop_pidfile "$RUN/api.pid"
  for f in "$RUN"/ingest*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
  for f in "$RUN"/sim*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
  stop_pidfile "$RUN/rollups.pid"
  stop_pidfile "$RUN/alerts.pid"
  stop_pidfile "$RUN/fake-eloverblik.pid"  # the demo's fake Eloverblik (ENERGIBLIK_DEMO_ELOVERBLIK=1 deploy/run.sh)
  stop_pidfile "$MQ/mosquitto.pid"
  if [ -f "$PGDATA/PG_VERSION" ] && pg_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  log "stopped"
}

cmd_status() {
  load_env
  pg_running && log "PostgreSQL: running on ${PG_PORT}" || log "PostgreSQL: stopped"
  mosquitto_running && log "Mosquitto: running on ${MQTT_PORT}" || log "Mosquitto: stopped"
  if [ -f "$RUN/supervisord.pid" ] && kill -0 "$(cat "$RUN/supervisord.pid")" 2>/dev/null; then
    log "supervisord: running (pid $(cat "$RUN/supervisord.pid"), log $RUN/supervisord.log)"
    "$VENV/bin/supervisorctl" -c "$RUN/supervisord.conf" status | sed "s/^/[stack:$PROFILE]   /" || true
  elif [ -f "$RUN/supervisord.conf" ]; then
    log "supervisord: stopped"
  fi
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] && [ "$(basename "$f")" != supervisord.pid ] || continue
    kill -0 "$(cat "$f")" 2>/dev/null && log "$(basename "$f" .pid): running" || log "$(basename "$f" .pid): stopped"
  done
}

case "${1:-}" in
  setup) cmd_setup;;
  up) cmd_up;;
  down) cmd_down;;
  status) cmd_status;;
  env) print_env;;
  pg-start) load_env; pg_up;;
  pg-stop) load_env; as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null;;
  mqtt-start) load_env; mosquitto_up;;
  mqtt-stop) load_env; stop_pidfile "$MQ/mosquitto.pid" 60;;  # a clean stop: Mosquitto saves its sessions first
  *) echo "usage: deploy/stack.sh setup|up|down|status|env|pg-stop|pg-start|mqtt-stop|mqtt-start" >&2; exit 2;;
esac
