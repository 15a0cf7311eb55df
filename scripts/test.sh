#!/usr/bin/env bash
# The test command (README, .ci/run): installs everything the suite needs, then runs it.
#   - a virtualenv in .venv with mlship and its serve+dev extras
#   - Debian packages the tests use (chromium for the drift report screenshot)
#   - the local base image (scripts/base-image.sh) and registries on 127.0.0.1:5000/5001
#   - a single-node docker swarm
# Outside CI, a missing docker engine makes the docker tests skip; with CI=true it is a failure.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/serving -x).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf 'test.sh: %s\n' "$*" >&2; }
in_ci() { [[ "${CI:-}" =~ ^(1|true|yes)$ ]]; }

started=$(date +%s)
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/apt.sh
source scripts/apt.sh
need() {  # need CMD PACKAGE...: install the packages when CMD is missing
    local cmd=$1; shift
    command -v "$cmd" >/dev/null 2>&1 || apt_install "$@"
}

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    "$PY" -m venv .venv
fi
log "installing mlship-cli[serve,dev] into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[serve,dev]"
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true

need git git
need curl curl
need chromium chromium
need java openjdk-17-jre-headless  # pyspark's JVM: `mlship predict --engine spark` tests

if docker info >/dev/null 2>&1; then
    scripts/base-image.sh >/dev/null
    scripts/registry.sh start 5000 >/dev/null
    scripts/registry.sh start 5001 >/dev/null
    if [[ $(docker info -f '{{.Swarm.LocalNodeState}}') != active ]]; then
        docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    fi
    export MLSHIP_BASE_IMAGE=${MLSHIP_BASE_IMAGE:-mlship-base:bookworm}
    export MLSHIP_TEST_REGISTRY=${MLSHIP_TEST_REGISTRY:-127.0.0.1:5000}
    export MLSHIP_TEST_REGISTRY2=${MLSHIP_TEST_REGISTRY2:-127.0.0.1:5001}
elif in_ci; then
    log "error: no docker engine is reachable, and CI requires the docker tests to run"
    exit 3
else
    log "warning: no docker engine: the docker tests will be skipped (they are required in CI)"
fi

log "lint: ruff + mypy"
scripts/lint.sh

log "set-up took $(( $(date +%s) - started ))s; running the tests"
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=900 "$@"
