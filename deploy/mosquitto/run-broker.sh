#!/bin/sh
# The broker container's command (deploy/docker-compose.yml): runs Mosquitto, and reloads it (SIGHUP) whenever the
# password or ACL file in /mosquitto/config changed. Those files are rewritten from other containers (the migrate
# job, and the API when a building is registered) that cannot signal this one, and Mosquitto does not watch them.
# A reload keeps every connection and session. Runs as root under the image's entrypoint; Mosquitto itself drops to
# the mosquitto user.
set -u
conf="${MOSQUITTO_CONF:-/energiblik/mosquitto.conf}"
files="/mosquitto/config/passwd /mosquitto/config/acl"

fingerprint() { cat $files 2>/dev/null | md5sum; }

mosquitto -c "$conf" &
pid=$!
# docker stop sends SIGTERM to this shell (PID 1): pass it on, then wait for Mosquitto to save its state and exit.
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

last="$(fingerprint)"
while kill -0 "$pid" 2>/dev/null; do
  sleep 2 &
  wait $! 2>/dev/null
  now="$(fingerprint)"
  if [ "$now" != "$last" ]; then
    # Mosquitto reads the files as the mosquitto user: make sure it can, whoever wrote them.
    chown mosquitto:mosquitto $files 2>/dev/null
    kill -HUP "$pid" 2>/dev/null
    echo "run-broker: password/ACL files changed, broker reloaded"
    last="$now"
  fi
done
wait "$pid"
