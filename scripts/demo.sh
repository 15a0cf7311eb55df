#!/usr/bin/env bash
# The main job, end to end, on the bundled example: a fresh project from the template is
# trained, scored, served and checked. Installs what it needs (.venv) and works in a temp dir
# (or $1), so it never touches files of yours.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t mlship-demo-XXXX)}
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

if [[ ! -x "$repo/.venv/bin/mlship" ]]; then
    step "installing mlship into $repo/.venv"
    python3 -m venv "$repo/.venv"
    "$repo/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$repo[serve,dev]"
fi
export PATH="$repo/.venv/bin:$PATH"
cd "$work"

step "mlship init demo"
mlship init demo --no-input
cd demo
step "pip install -r requirements.txt"
python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
step "mlship train"
mlship train
step "mlship predict --input data/train.csv --output out.csv"
mlship predict --input data/train.csv --output out.csv
head -n 4 out.csv
step "pytest (the generated project's own tests)"
python -m pytest -q -p no:cacheprovider
step "done: the project is in $work/demo"
