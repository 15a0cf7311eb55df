#!/usr/bin/env bash
# Run a real OCI registry (Debian's docker-registry, distribution v2) on 127.0.0.1:PORT,
# without systemd, for integration tests and CI. Several ports can run side by side.
#
# Usage: scripts/registry.sh start|stop|status [PORT]
#   PORT defaults to $MLSHIP_REGISTRY_PORT, else 5000.
#   State (config, data, pid, log) lives in ${MLSHIP_REGISTRY_STATE_DIR:-/tmp/mlship-registry}/PORT.
#   MLSHIP_REGISTRY_HTPASSWD=FILE: require Basic auth against that htpasswd file (bcrypt entries).
# `start` prints the registry address (127.0.0.1:PORT) on stdout; messages go to stderr.
# Exit codes: 0 ok / running, 1 not running (status) or failed, 2 usage error.
set -euo pipefail

BINARY=/usr/bin/docker-registry
START_TIMEOUT=20

log() { printf 'registry: %s\n' "$*" >&2; }
die() { printf 'registry: error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: %s start|stop|status [PORT]\n' "${0##*/}" >&2; exit 2; }

[[ $# -ge 1 && $# -le 2 ]] || usage
ACTION="$1"
PORT="${2:-${MLSHIP_REGISTRY_PORT:-5000}}"
if [[ ! "$PORT" =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
    printf 'registry: error: invalid port: %s\n' "$PORT" >&2
    exit 2
fi
PORT=$((10#$PORT))
ADDR="127.0.0.1:${PORT}"
STATE_DIR="${MLSHIP_REGISTRY_STATE_DIR:-/tmp/mlship-registry}/${PORT}"
CONFIG="${STATE_DIR}/config.yml"
PID_FILE="${STATE_DIR}/registry.pid"
LOG_FILE="${STATE_DIR}/registry.log"

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_tools() {
    local missing=()
    command -v curl >/dev/null || missing+=(curl ca-certificates)
    [[ -x "$BINARY" ]] || missing+=(docker-registry)
    [[ ${#missing[@]} -eq 0 ]] || apt_install "${missing[@]}"
}

# 200, or 401 from a registry that requires credentials (MLSHIP_REGISTRY_HTPASSWD).
answering() {
    local code
    code="$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://${ADDR}/v2/" 2>/dev/null)" || return 1
    [[ "$code" == 200 || "$code" == 401 ]]
}

# The pid from the pid file, only if that process is still our registry (pids get reused).
our_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid="$(<"$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF "$CONFIG" || return 1
    printf '%s\n' "$pid"
}

write_config() {
    mkdir -p "${STATE_DIR}/data"
    # No blobdescriptor cache: with deletes enabled an in-memory cache can serve stale
    # blobs. No http.debug (it would take a second port). No auth: loopback only.
    cat >"$CONFIG" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
    port: ${PORT}
storage:
  filesystem:
    rootdirectory: ${STATE_DIR}/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${ADDR}
  secret: mlship-local-registry-${PORT}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF
    if [[ -n "${MLSHIP_REGISTRY_HTPASSWD:-}" ]]; then
        cat >>"$CONFIG" <<EOF
auth:
  htpasswd:
    realm: mlship
    path: ${MLSHIP_REGISTRY_HTPASSWD}
EOF
    fi
}

start() {
    ensure_tools
    if answering; then
        if our_pid >/dev/null; then
            log "already running on ${ADDR} (pid $(our_pid))"
        else
            log "a registry already answers on ${ADDR} (not started by this script)"
        fi
        printf '%s\n' "$ADDR"
        return 0
    fi
    local pid
    if pid="$(our_pid)"; then
        log "pid ${pid} is ours but not answering; restarting it"
        stop
    fi
    write_config
    log "starting docker-registry on ${ADDR} (state ${STATE_DIR})"
    # setsid: own session, so the registry outlives this shell and a CI step's process group.
    setsid nohup "$BINARY" serve "$CONFIG" >>"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    local deadline=$((SECONDS + START_TIMEOUT))
    until answering; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "docker-registry exited during start-up (log: ${LOG_FILE})"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$LOG_FILE" >&2 || true
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            die "no answer from http://${ADDR}/v2/ after ${START_TIMEOUT}s (log: ${LOG_FILE})"
        fi
        sleep 0.2
    done
    log "running on ${ADDR} (pid ${pid}, log ${LOG_FILE})"
    printf '%s\n' "$ADDR"
}

stop() {
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        if answering; then
            log "something answers on ${ADDR} but it was not started by this script; left alone"
            return 1
        fi
        log "not running on ${ADDR}"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid ${pid} ignored SIGTERM; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    log "stopped registry on ${ADDR} (pid ${pid}; data kept in ${STATE_DIR}/data)"
}

status() {
    command -v curl >/dev/null || die "curl not installed (run: $0 start)"
    if answering; then
        local pid
        if pid="$(our_pid)"; then
            log "running on ${ADDR} (pid ${pid})"
        else
            log "a registry answers on ${ADDR} (not started by this script)"
        fi
        printf '%s\n' "$ADDR"
        return 0
    fi
    log "not answering on ${ADDR}"
    return 1
}

case "$ACTION" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
