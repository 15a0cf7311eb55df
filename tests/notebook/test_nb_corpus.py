"""The notebook corpus end to end: plan -> init --from -> verify -> train -> predict -> test -> serve.

Each notebook of `tests/notebook/corpus/` (see its README.md) is one test: the stages share one
converted project and one training run. Stages after `init` run even when an earlier one failed, so
the failure message lists every stage that broke, each with its first error line; a notebook whose
expected outcome is a refusal checks the exit code and the message instead.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import mlship

from ..support import MLSHIP, free_port
from .nb_helpers import ROOT

CORPUS = ROOT / "tests" / "notebook" / "corpus"
MANIFEST = json.loads((CORPUS / "corpus.json").read_text())
# The `mlship serve` subprocess imports the same mlship as this process (a worktree's src, not the install).
_SRC = str(Path(mlship.__file__).resolve().parents[1])
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([_SRC, *filter(None, [os.environ.get("PYTHONPATH")])]),
    "OMP_NUM_THREADS": "1",
    "COLUMNS": "200",
    "NO_COLOR": "1",
}

pytestmark = pytest.mark.slow


def _cli(*args: str, capsys) -> tuple[int, str, str]:
    """`mlship ARGS` in this process: no interpreter start-up (a few seconds each on the 2-core box)."""
    from mlship.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def first_error(text: str) -> str:
    """mlship's message (from `error:` up to its hint) and the last exception line, on one line."""
    plain = re.sub(r"\x1b?\[[0-9;]*m", "", text)
    flat = " ".join(plain.split())
    at = flat.find("error:")
    message = flat[at : at + 400].split(" hint:")[0] if at >= 0 else flat[:300]
    message = message.split(" top to bottom")[0] + (" top to bottom" if " top to bottom" in message else "")
    raised = re.findall(r"^\s*(\w+(?:Error|Exception|Warning): .+)$", plain, re.MULTILINE)
    if raised and raised[-1].strip()[:80] not in message:
        message += f" [{raised[-1].strip()[:200]}]"
    return message


def records_frame(entry: dict):
    import pandas as pd

    spec = entry["records"]
    if "sklearn" in spec:
        from sklearn import datasets

        frame = getattr(datasets, spec["sklearn"])(as_frame=True).frame
    else:
        frame = pd.read_csv(CORPUS / spec["file"])
    frame = frame.drop(columns=spec.get("drop", []))
    # rows the notebook drops before its fit (`dropna`) are not records its model can score
    return frame.dropna(subset=spec.get("complete", [])).reset_index(drop=True)


def scored_alone(rows: list[dict]) -> tuple[int, int]:
    """(records verify scored one at a time, records the notebook scored): its "records scored alone
    (N of M)" row."""
    for row in rows:
        counted = re.match(r"records scored alone \((\d+) of (\d+)\)", row["check"])
        if counted:
            return int(counted.group(1)), int(counted.group(2))
    return 0, 0


def same_value(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.status


def serve_one(project: Path, record: dict, workdir: Path) -> tuple[object, str]:
    """Start `mlship serve`, POST one record, stop the server; returns (the prediction, problem)."""
    port = free_port()
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [*MLSHIP, "serve", str(project), "--port", str(port)],
        cwd=project, env=ENV, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                log.flush()
                return None, f"exited {server.returncode}: {first_error((workdir / 'serve.log').read_text())}"
            try:
                if _get(f"{base}/readyz") == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                return None, "not ready within 90 s"
            time.sleep(0.3)
        body = json.dumps({"records": [record]}).encode()
        request = urllib.request.Request(
            f"{base}/predict", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())["predictions"][0], ""
        except urllib.error.HTTPError as exc:
            return None, f"HTTP {exc.code}: {exc.read().decode(errors='replace')[:300]}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_corpus_notebook(name, tmp_path, capsys, monkeypatch):
    # verify's own subprocesses (the pipeline runner) inherit this: the same mlship, one BLAS thread.
    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    entry = MANIFEST[name]
    expect = entry["expect"]
    notebook = CORPUS / f"{name}.ipynb"
    project = tmp_path / name  # a package name of its own: the stages import it into this process

    data = [arg for path in entry["data"] for arg in ("--data", str(CORPUS / path))]
    stages = [
        ("plan", ["plan", str(notebook)]),
        ("init", ["init", str(project), "--from", str(notebook), *data]),
        ("verify", ["verify", str(project), "--json"]),
    ]
    for stage, args in stages:
        code, out, err = _cli(*args, capsys=capsys)
        if expect["outcome"] == "refusal" and code != 0:
            # A clear refusal at any of these stages: the documented exit code, the cell and the fix named.
            flat = " ".join(err.split())
            assert code == expect["exit_code"], f"{name}: {stage} exit {code}: {first_error(err)}"
            missing = [needle for needle in expect["message"] if needle not in flat]
            assert not missing, f"{name}: {stage}'s refusal does not name {missing}: {first_error(err)}"
            assert "Traceback" not in err
            return
        if stage != "verify":
            assert code == 0, f"{name}: {stage} exit {code}: {first_error(err)}"
    assert expect["outcome"] != "refusal", f"{name}: verify passed; wanted a refusal: {expect}"

    problems: list[str] = []
    records = records_frame(entry)
    wanted = min(200, entry["records"].get("notebook_records", len(records)))
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        result = None
    if code != 0 or not result or not result.get("ok"):
        failed = [r for r in (result or {}).get("rows", []) if not r["ok"]]
        last = failed[0]["difference"].strip().splitlines()[-1:] if failed else []
        detail = f"{failed[0]['check']}: {' '.join(last)}" if failed else first_error(err)
        problems.append(f"verify exit {code}: {detail}")
    else:
        # Every record the notebook scored (its holdout), at least 200 of them when it has that many.
        alone, scored = scored_alone(result["rows"])
        if alone < min(200, scored) or alone < min(wanted, scored) or scored == 0:
            problems.append(f"verify: {alone} of the notebook's {scored} records scored alone")

    code, _, err = _cli("train", str(project), capsys=capsys)
    if code != 0:
        problems.append(f"train exit {code}: {first_error(err)}")
        pytest.fail(f"{name}: " + " | ".join(problems))

    sample = tmp_path / "records.csv"
    records.to_csv(sample, index=False)
    out_csv = tmp_path / "out.csv"
    code, _, err = _cli(
        "predict", str(project), "--input", str(sample), "--output", str(out_csv), capsys=capsys
    )
    batch = None
    if code != 0:
        problems.append(f"predict exit {code}: {first_error(err)}")
    else:
        import pandas as pd

        batch = pd.read_csv(out_csv)["prediction"].tolist()
        if len(batch) != len(records):
            problems.append(f"predict: {len(batch)} predictions for {len(records)} records")

    code, out, err = _cli("test", str(project), "--json", capsys=capsys)
    if code != 0:
        try:
            report = json.loads(out)
            checks = [c for c in report["checks"] if c["status"] not in ("passed", "skipped")]
            bad = [f"{c['name']}: {str(c.get('failures'))[:200]}" for c in checks]
            problems.append(f"test exit {code}: {'; '.join(bad) or first_error(err)}")
        except (json.JSONDecodeError, KeyError, TypeError):
            problems.append(f"test exit {code}: {first_error(err)}")

    record = json.loads(records.iloc[[0]].to_json(orient="records"))[0]
    for reject in expect.get("rejects", []):
        # A record the model cannot score (a gap it never saw, a category it does not know): refused,
        # naming the field, not scored as NaN or crashed.
        import pandas as pd

        bad = tmp_path / "bad.csv"
        pd.DataFrame([{**record, **reject["set"]}]).to_csv(bad, index=False)
        code, _, err = _cli(
            "predict", str(project), "--input", str(bad), "--output", str(tmp_path / "bad_out.csv"),
            capsys=capsys,
        )  # fmt: skip
        if code == 0 or f"'{reject['names']}'" not in err:
            problems.append(f"predict {reject['set']}: exit {code}, {first_error(err)}; wanted a refusal")
    served, problem = serve_one(project, record, tmp_path)
    if problem:
        problems.append(f"serve: {problem}")
    elif batch is not None and not same_value(served, batch[0]):
        problems.append(f"serve: /predict answered {served!r}, the batch gave {batch[0]!r} for row 0")

    assert not problems, f"{name}: " + " | ".join(problems)
