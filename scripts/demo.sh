#!/usr/bin/env bash
# The main job, end to end, on the bundled example: a new project from the template is trained,
# scored, locked and checked, held to its behaviour contract, served, built into an image,
# deployed to the local docker engine behind the health gate, sent traffic, and monitored for
# drift. Installs what it needs (.venv, the local base image) and works in a temporary directory
# (or in $1), so it never touches files of yours. Without a docker engine it stops after serving.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t mlship-demo-XXXX)}
mkdir -p "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "installing mlship into $repo/.venv"
[[ -x "$repo/.venv/bin/python" ]] || python3 -m venv "$repo/.venv"
"$repo/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "${repo}[serve,dev]"
export PATH="$repo/.venv/bin:$PATH"
cd "$work"

step "mlship init demo"
mlship init demo --no-input
cd demo
python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt

step "mlship train"
mlship train
step "mlship predict --input data/train.csv --output out.csv"
mlship predict --input data/train.csv --output out.csv
head -n 4 out.csv
step "pytest (the generated project's own tests)"
python -m pytest -q -p no:cacheprovider

step "mlship lock && mlship check"
mlship lock
mlship check
step "mlship test (the behaviour contract)"
mlship test --junit contract.xml

step "mlship serve (locally, no container) and one request"
port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mlship serve --port "$port" --log-dir logs/local &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS -X POST "http://127.0.0.1:$port/predict" -H 'content-type: application/json' \
    -d '{"records": [{"price": 4.5, "promo": 1, "day_of_week": "sat", "store": "city", "temperature": 21}]}'
echo
kill -TERM "$server"
wait "$server" || true  # exits 0 after a clean SIGTERM
trap - EXIT

if ! docker info >/dev/null 2>&1; then
    step "no docker engine here: build, deploy and monitor are skipped"
    exit 0
fi
step "base image (built locally once: nothing can be pulled here)"
export MLSHIP_BASE_IMAGE=${MLSHIP_BASE_IMAGE:-$("$repo/scripts/base-image.sh")}

step "mlship build"
mlship build
# An environment of this run's own (another demo on the same engine keeps its containers): the local
# engine, logging into $logs. Added with ruamel.yaml's round trip, so mlship.yaml keeps its comments.
env="demo-$$-$RANDOM"
step "mlship deploy $env (health gate: readiness, the contract's golden examples, latency)"
logs="$work/demo/logs/$env"
svc_port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python - "$env" "$svc_port" "$logs" <<'PY'
import sys
from ruamel.yaml import YAML
yaml = YAML()  # round-trip: comments, order, quoting, long lines and indents stay as they were
yaml.preserve_quotes, yaml.width = True, 4096
yaml.indent(mapping=2, sequence=4, offset=2)
with open("mlship.yaml") as f:
    config = yaml.load(f)
config["environments"][sys.argv[1]] = {"target": "docker", "port": int(sys.argv[2]), "log_dir": sys.argv[3]}
with open("mlship.yaml", "w") as f:
    yaml.dump(config, f)
PY
url=$(mlship deploy "$env")
echo "serving at $url"

step "traffic: 400 records from the training distribution"
python - "$url" <<'PY'
import json, sys, urllib.request
import pandas as pd
url = sys.argv[1]
rows = pd.read_csv("data/train.csv").drop(columns=["demand"])
for start in range(0, len(rows), 50):
    body = json.dumps({"records": json.loads(rows.iloc[start:start + 50].to_json(orient="records"))}).encode()
    req = urllib.request.Request(f"{url}/predict", body, {"content-type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
print(f"sent {len(rows)} records")
PY
mlship status "$env"

step "mlship monitor (drift of live traffic vs the training reference)"
# Only what this run created: its own environment of this project (the model and its proxy).
mine=(--filter "label=io.mlship.project=demo" --filter "label=io.mlship.environment=$env")
docker ps -q "${mine[@]}" | xargs -r docker stop >/dev/null  # flushes the log
mlship monitor --env "$env" --report drift.html
docker ps -aq "${mine[@]}" | xargs -r docker rm -f >/dev/null
step "done: the project is in $work/demo (drift report: $work/demo/drift.html)"
