#!/usr/bin/env bash
# A real, local Argilla server for tests and benchmarks (ARCHITECTURE.md, "Real components in tests").
#
#   bash scripts/argilla-server.sh setup                 # venv + redis-server only (idempotent)
#
# redis-server is a system package: when it is missing, the script installs it with apt-get (as
# root) only when SLUICE_INSTALL_SYSTEM_PACKAGES=1 says so, and otherwise stops, saying how.
#   bash scripts/argilla-server.sh start HOME PORT [REDIS_PORT]  # redis + argilla-server on 127.0.0.1
#   bash scripts/argilla-server.sh stop HOME             # stop what `start HOME` started
#
# argilla-server 2.8 runs from its OWN virtualenv ($ARGILLA_VENV, default .argilla-venv): its pins
# (pydantic ~2.9, typer < 0.10 which needs click < 8.2) clash with sluice's stack. Storage is
# SQLite under HOME; a Debian redis-server bound to 127.0.0.1 on REDIS_PORT (default PORT+1) serves
# its job queue;
# Elasticsearch is replaced by the SQL search engine in scripts/argilla_sqlsearch.py (the one
# replaced part). The owner user `argilla` gets the API key in $ARGILLA_OWNER_KEY (default below:
# a throwaway key for a throwaway local server; it is never printed).
#
# Exit codes: 0 ok; 3 this machine cannot run the server (no redis-server and no way to install
# it, or argilla-server cannot be installed) — tests skip with the message; 4 redis did not answer
# on REDIS_PORT (most often the port was taken between choosing and binding it: the caller retries
# with other ports); 1 anything else.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ARGILLA_VENV:-.argilla-venv}"
owner_key="${ARGILLA_OWNER_KEY:-sluice-test-owner-key}"
owner_password="${ARGILLA_OWNER_PASSWORD:-sluice-test-password}"

impossible() { echo "argilla-server.sh: $*" >&2; exit 3; }

setup() {
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "${SLUICE_INSTALL_SYSTEM_PACKAGES:-0}" != 1 ]; then
      # A system package is installed only with consent: scripts/test.sh and .ci/run give it explicitly.
      impossible "redis-server is not installed: install it (apt-get install redis-server), or rerun with SLUICE_INSTALL_SYSTEM_PACKAGES=1 to let this script install it with apt-get (as root)"
    elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "argilla-server.sh: installing redis-server with apt-get (SLUICE_INSTALL_SYSTEM_PACKAGES=1)" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 \
        || impossible "apt-get install redis-server failed"
      # Debian's package starts a system service on 6379; we run our own instances, stop it.
      (command -v service >/dev/null && service redis-server stop) >/dev/null 2>&1 || true
    else
      impossible "redis-server is not installed (apt-get install redis-server, as root)"
    fi
  fi
  local stamp="$venv/.sluice-argilla-server-2.8.0"
  if [ ! -f "$stamp" ]; then
    echo "argilla-server.sh: installing argilla-server 2.8.0 into $venv" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || impossible "python3 -m venv failed"
    "$venv/bin/python" -m pip install -q "argilla-server[sqlite]==2.8.0" "click<8.2" >"$venv.install.log" 2>&1 \
      || { tail -n 20 "$venv.install.log" >&2; impossible "pip install argilla-server failed (log: $venv.install.log)"; }
    touch "$stamp"
  fi
}

server_env() {
  local home="$1" redis_port="$2"
  export ARGILLA_HOME_PATH="$home"
  export ARGILLA_DATABASE_URL="sqlite+aiosqlite:///$home/argilla.db?check_same_thread=False"
  export ARGILLA_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  export ARGILLA_SEARCH_ENGINE=sqlsearch
  export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
}

redis_answers() {  # PORT PIDFILE: the redis on PORT answers, and it is the one this call started
  "$venv/bin/python" - "$1" "$2" <<'PY' 2>/dev/null
import sys, redis
info = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=1, socket_connect_timeout=1).info("server")
assert str(info["process_id"]) == open(sys.argv[2]).read().strip()
PY
}

start() {
  local home="$1" port="$2" redis_port="${3:-$(($2 + 1))}"
  setup
  mkdir -p "$home"
  home="$(cd "$home" && pwd)"
  server_env "$home" "$redis_port"
  : >"$home/redis.log"  # this start's log only (a retry reuses HOME)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes \
    --pidfile "$home/redis.pid" --logfile "$home/redis.log" --dir "$home"
  # argilla-server pings redis once at startup and exits if it does not answer: wait for the answer
  # here (a daemonized redis forks before it binds), and say so apart when the port was taken.
  local answered=0
  for _ in $(seq 1 60); do
    if redis_answers "$redis_port" "$home/redis.pid"; then answered=1; break; fi
    if grep -q "aborting" "$home/redis.log" 2>/dev/null; then break; fi  # e.g. "Address already in use"
    sleep 0.5
  done
  if [ "$answered" != 1 ]; then
    echo "argilla-server.sh: redis did not answer on 127.0.0.1:$redis_port within 30 s (log: $home/redis.log);" \
      "if the port is taken, give a free one: start HOME PORT REDIS_PORT" >&2
    tail -n 5 "$home/redis.log" >&2 2>/dev/null || true
    exit 4
  fi
  "$venv/bin/python" -m argilla_server database migrate >"$home/migrate.log" 2>&1 \
    || { tail -n 20 "$home/migrate.log" >&2; exit 1; }
  "$venv/bin/python" -m argilla_server database users create_default \
    --api-key "$owner_key" --password "$owner_password" --quiet >>"$home/migrate.log" 2>&1 \
    || { tail -n 20 "$home/migrate.log" >&2; exit 1; }
  nohup "$venv/bin/python" scripts/argilla_serve.py 127.0.0.1 "$port" >"$home/server.log" 2>&1 &
  echo $! >"$home/server.pid"
  for _ in $(seq 1 120); do
    if "$venv/bin/python" - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/_status", timeout=1)
PY
      echo "http://127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$home/server.pid")" 2>/dev/null; then
      tail -n 30 "$home/server.log" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "argilla-server.sh: the server did not answer within 60 s (log: $home/server.log)" >&2
  exit 1
}

stop() {
  local home="$1"
  for f in server.pid redis.pid; do
    if [ -f "$home/$f" ]; then
      kill "$(cat "$home/$f")" 2>/dev/null || true
      rm -f "$home/$f"
    fi
  done
}

case "${1:-}" in
  setup) setup ;;
  start) start "${2:?HOME}" "${3:?PORT}" "${4:-}" ;;
  stop) stop "${2:?HOME}" ;;
  *) echo "usage: $0 setup | start HOME PORT [REDIS_PORT] | stop HOME" >&2; exit 1 ;;
esac
