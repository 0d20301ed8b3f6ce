#!/usr/bin/env bash
# The compose deployment without containers: N app processes on loopback ports behind Debian's
# nginx, with the same nginx configuration (deploy/nginx_conf.py). Nothing system-wide: every
# process, pid, log and temp file lives in one folder, and `stop` ends them and removes it.
#
#   deploy/run-local.sh            # start (3 replicas), wait for health, print the URL
#   deploy/run-local.sh stop       # stop everything it started
#
# Settings (environment): REPLICAS (3), PROXY_PORT (8600), APP_PORT (8501: replicas take
# APP_PORT, APP_PORT+1, ...), PYTHON (.venv/bin/python, else python3),
# NGINX_BIN (nginx on PATH), ALEXNET_VIZ_LOCAL_DIR (the folder; default $TMPDIR/alexnet-viz-local),
# REDIS_BIN (redis-server on PATH), REDIS_PORT (PROXY_PORT+1). Live classes need one room store
# for all replicas: when redis-server is installed, it is started on loopback and the replicas get
# ALEXNET_VIZ_ROOMS=redis://127.0.0.1:$REDIS_PORT/0 (an ALEXNET_VIZ_ROOMS already set wins;
# without Redis each replica keeps its own rooms). Anything else the app reads
# (ALEXNET_VIZ_OFFLINE, ALEXNET_VIZ_WEIGHT_DIR, ALEXNET_VIZ_HOME) is passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${ALEXNET_VIZ_LOCAL_DIR:-${TMPDIR:-/tmp}/alexnet-viz-local}
REPLICAS=${REPLICAS:-3}
PROXY_PORT=${PROXY_PORT:-8600}
APP_PORT=${APP_PORT:-8501}
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo "$ROOT/.venv/bin/python" || echo python3)}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
REDIS_BIN=${REDIS_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}
REDIS_PORT=${REDIS_PORT:-$((PROXY_PORT + 1))}

healthy() {  # the URL answers "ok" within $2 seconds (default 2; no curl needed)
  "$PYTHON" -c 'import sys, urllib.request
sys.exit(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read() != b"ok")' "$1" "${2:-2}" 2>/dev/null
}

ours() {  # a pid from our folder that is still the process we started (pids get reused)
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -e "$2"
}

stop() {
  [ -d "$DIR" ] || { echo "nothing running from $DIR"; return 0; }
  if [ -f "$DIR/nginx.pid" ] && ours "$(cat "$DIR/nginx.pid")" nginx; then
    kill -QUIT "$(cat "$DIR/nginx.pid")" || true
  fi
  for f in "$DIR"/replica-*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if ours "$pid" streamlit; then kill "$pid" || true; fi
  done
  if [ -f "$DIR/redis.pid" ] && ours "$(cat "$DIR/redis.pid")" redis-server; then
    kill "$(cat "$DIR/redis.pid")" || true
  fi
  for _ in $(seq 40); do  # up to 20 s for them to finish their clean-up
    alive=0
    for f in "$DIR"/replica-*.pid "$DIR/nginx.pid" "$DIR/redis.pid"; do
      [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.5
  done
  for f in "$DIR"/replica-*.pid "$DIR/nginx.pid" "$DIR/redis.pid"; do  # still there: no more waiting
    [ -f "$f" ] && pid=$(cat "$f") && ours "$pid" "streamlit\|nginx\|redis-server" && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$DIR"
  echo "stopped; removed $DIR"
}

start() {
  [ -x "$NGINX_BIN" ] || { echo "nginx is missing: apt-get install nginx (Debian's), as .ci/run does" >&2; exit 1; }
  if [ -e "$DIR/nginx.pid" ]; then echo "already running from $DIR ($0 stop first)" >&2; exit 1; fi
  mkdir -p "$DIR/tmp"
  # the replicas must agree on the secret that signs Streamlit's cookies (a session that moves
  # to another replica keeps working); a fresh one per start
  secret=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')
  rooms="in each replica (no Redis)"
  if [ -z "${ALEXNET_VIZ_ROOMS:-}" ] && [ -x "$REDIS_BIN" ]; then
    # nothing to keep (no snapshot, no log), loopback only, its files in our folder
    "$REDIS_BIN" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$DIR" \
      --maxmemory 256mb --maxmemory-policy volatile-ttl </dev/null >"$DIR/redis.log" 2>&1 &
    echo $! >"$DIR/redis.pid"
    export ALEXNET_VIZ_ROOMS="redis://127.0.0.1:$REDIS_PORT/0"
    redis_up=0
    for _ in $(seq 40); do
      "$PYTHON" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1); s.sendall(b"PING\r\n")
sys.exit(s.recv(16) != b"+PONG\r\n")' "$REDIS_PORT" 2>/dev/null && { redis_up=1; break; }
      sleep 0.25
    done
    if [ $redis_up = 0 ]; then  # say so, and keep rooms in each replica rather than point at nothing
      echo "redis-server did not answer on port $REDIS_PORT (see $DIR/redis.log): rooms stay in each replica" >&2
      unset ALEXNET_VIZ_ROOMS
    fi
  fi
  [ -n "${ALEXNET_VIZ_ROOMS:-}" ] && rooms="in $ALEXNET_VIZ_ROOMS"
  replicas=()
  for i in $(seq 1 "$REPLICAS"); do
    port=$((APP_PORT + i - 1))
    replicas+=(--replica "r$i=127.0.0.1:$port")
    ALEXNET_VIZ_REPLICA="r$i" STREAMLIT_SERVER_COOKIE_SECRET="$secret" \
      "$PYTHON" -m streamlit run app/streamlit_app.py --server.headless true \
      --server.address 127.0.0.1 --server.port "$port" --server.fileWatcherType none \
      --server.scriptHealthCheckEnabled true \
      --browser.gatherUsageStats false </dev/null >"$DIR/replica-r$i.log" 2>&1 &
    echo $! >"$DIR/replica-r$i.pid"
  done
  "$PYTHON" deploy/nginx_conf.py --listen "127.0.0.1:$PROXY_PORT" --prefix "$DIR" "${replicas[@]}" >"$DIR/nginx.conf"
  if [ "$(id -u)" = 0 ]; then chown -R nobody "$DIR/tmp"; fi  # nginx's workers run as nobody under root
  for i in $(seq 1 "$REPLICAS"); do
    port=$((APP_PORT + i - 1))
    for _ in $(seq 120); do healthy "http://127.0.0.1:$port/_stcore/health" && break; sleep 0.5; done
    # ready: one run of the whole script (imports, the network, the app's background thread),
    # so the first visitor, or one moved here from a replica that died, does not pay for it
    healthy "http://127.0.0.1:$port/_stcore/script-health-check" 120 || {
      echo "replica r$i did not start; its log:" >&2; tail -n 30 "$DIR/replica-r$i.log" >&2; stop; exit 1; }
  done
  "$NGINX_BIN" -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/error.log" </dev/null >>"$DIR/error.log" 2>&1
  for _ in $(seq 20); do healthy "http://127.0.0.1:$PROXY_PORT/_stcore/health" && break; sleep 0.5; done
  healthy "http://127.0.0.1:$PROXY_PORT/_stcore/health" || {
    echo "nginx did not answer; its log:" >&2; tail -n 30 "$DIR/error.log" >&2; stop; exit 1; }
  echo "http://127.0.0.1:$PROXY_PORT ($REPLICAS replicas; class rooms $rooms; pids, logs and nginx.conf in $DIR)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
