"""`mlship monitor` end to end: the real example model, its reference profile and logged traffic."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.support import run_mlship


def run(*args: str) -> SimpleNamespace:
    """The real `mlship ARGS`: its exit code, stdout, and stderr with line wrapping undone."""
    done = run_mlship(*args, timeout=300)
    return SimpleNamespace(code=done.returncode, stdout=done.stdout, err=" ".join(done.stderr.split()))


def monitor_json(project, *args: str) -> tuple[int, dict]:
    result = run("monitor", str(project.root), "--json", *args)
    return result.code, json.loads(result.stdout)


def verdicts(data: dict) -> dict[str, str]:
    return {row["name"]: row["verdict"] for row in data["features"] + data["predictions"]}


def shifted(training_inputs, seed: int):
    """Training-like traffic with temperature moved up 12 degrees and a store never seen in training."""
    frame = training_inputs.sample(600, replace=True, random_state=seed).reset_index(drop=True)
    frame["temperature"] = frame["temperature"] + 12
    frame.loc[frame.index[:200], "store"] = "airport"
    return frame


def test_train_writes_the_reference_profile(demo):
    profile = json.loads((demo.artifact_dir / "reference.json").read_text())
    assert list(profile["features"]) == ["price", "promo", "day_of_week", "store", "temperature"]
    assert "demand" not in profile["features"]  # the target is not a request field
    assert profile["features"]["store"]["counts"] == {"north": 166, "south": 131, "city": 103}
    temperature = profile["features"]["temperature"]
    assert temperature["kind"] == "numeric" and temperature["missing"] == 11
    assert sum(temperature["bin_counts"]) == 389 and len(temperature["sample"]) == 389
    prediction = profile["predictions"]["prediction"]
    assert prediction["kind"] == "numeric" and prediction["count"] == 400
    assert profile["data"]["path"] == "data/train.csv"


def test_the_profile_keeps_training_reproducible(demo):
    from mlship.stages import train

    before = (demo.artifact_dir / "reference.json").read_bytes()
    first = train(demo).artifact_sha256
    assert train(demo).artifact_sha256 == first
    assert (demo.artifact_dir / "reference.json").read_bytes() == before


def test_training_like_traffic_reports_no_drift(demo, training_inputs, served_traffic):
    logs = served_traffic(training_inputs.sample(600, replace=True, random_state=1), failed=3)
    code, data = monitor_json(demo, "--log", str(logs))
    assert code == 0, data
    assert data["verdict"] == "ok" and data["drifted"] == []
    assert set(verdicts(data).values()) == {"ok"}
    assert data["traffic"]["requests"] == 603 and data["traffic"]["failed"] == 3
    assert data["traffic"]["records"] == 600 and data["traffic"]["statuses"] == {"200": 600, "422": 3}
    assert data["notes"] == []


def test_shifted_feature_and_new_category_are_exactly_what_is_reported(demo, training_inputs, served_traffic):
    logs = served_traffic(shifted(training_inputs, seed=2), batch=4)
    code, data = monitor_json(demo, "--log", str(logs))
    assert code == 1
    assert data["verdict"] == "drift"
    assert sorted(data["drifted"]) == ["store", "temperature"]
    rows = {row["name"]: row for row in data["features"]}
    assert rows["store"]["new_categories"] == {"airport": pytest.approx(1 / 3)}
    assert rows["store"]["test"] == "chi2" and rows["temperature"]["test"] == "ks"
    assert (
        rows["temperature"]["summary"]["live_median"] > rows["temperature"]["summary"]["reference_median"] + 8
    )
    assert all(rows[name]["verdict"] == "ok" for name in ("price", "promo", "day_of_week"))


def test_price_shift_moves_the_predictions_too(demo, training_inputs, write_traffic):
    frame = training_inputs.sample(500, replace=True, random_state=3).reset_index(drop=True)
    frame["price"] = frame["price"] * 1.6
    code, data = monitor_json(demo, "--log", str(write_traffic(frame)))
    assert code == 1
    assert sorted(data["drifted"]) == ["prediction", "price"]


def test_missing_rate_change_is_drift(demo, training_inputs, write_traffic):
    frame = training_inputs.sample(400, replace=True, random_state=4).reset_index(drop=True)
    frame.loc[frame.index[:160], "temperature"] = None  # 40% missing against 3% in training
    code, data = monitor_json(demo, "--log", str(write_traffic(frame)))
    assert code == 1 and data["drifted"] == ["temperature"]
    row = next(r for r in data["features"] if r["name"] == "temperature")
    assert row["missing_live"] > 0.35 and "missing rate" in row["reasons"][0]


def test_since_keeps_only_recent_requests(demo, training_inputs, write_traffic, tmp_path):
    logs = tmp_path / "mixed"
    now = datetime.now(timezone.utc)
    write_traffic(shifted(training_inputs, seed=5), log_dir=logs, start=now - timedelta(days=3))
    write_traffic(
        training_inputs.sample(300, random_state=6), log_dir=logs, start=now - timedelta(minutes=20)
    )
    code, data = monitor_json(demo, "--log", str(logs))
    assert code == 1
    code, data = monitor_json(demo, "--log", str(logs), "--since", "1h")
    assert code == 0 and data["traffic"]["records"] == 300


def test_env_reads_the_environments_log_dir(demo, training_inputs, write_traffic, tmp_path):
    log_dir = write_traffic(training_inputs.sample(200, random_state=7), log_dir=tmp_path / "staging-logs")
    config = demo.root / "mlship.yaml"
    original = config.read_text()
    try:
        config.write_text(
            original.replace("    target: swarm\n", f"    target: swarm\n    log_dir: {log_dir}\n", 1)
        )
        code, data = monitor_json(demo, "--env", "staging")
        assert code == 0 and data["sources"] == [str(next(log_dir.glob("*.jsonl")))]
        result = run("monitor", str(demo.root), "--env", "prod")
        assert result.code == 2
        assert "no prediction log of prod" in result.err
        assert "mlship deploy prod" in result.err
        # Without log_dir, an environment logs under the project (where `deploy` mounts it) ...
        default = write_traffic(
            training_inputs.sample(150, random_state=8), log_dir=demo.root / "logs/environments/prod"
        )
        code, data = monitor_json(demo, "--env", "prod")
        assert code == 0 and data["traffic"]["records"] == 150 and data["sources"][0].startswith(str(default))
        # ... and a relative log_dir is under the project, not the working directory.
        config.write_text(
            original.replace(
                "    target: swarm\n", "    target: swarm\n    log_dir: logs/environments/prod\n", 1
            )
        )
        code, data = monitor_json(demo, "--env", "staging")
        assert code == 0 and data["traffic"]["records"] == 150
    finally:
        config.write_text(original)
        import shutil

        shutil.rmtree(demo.root / "logs" / "environments", ignore_errors=True)


def test_too_little_traffic_is_insufficient_not_drift(demo, training_inputs, write_traffic):
    code, data = monitor_json(demo, "--log", str(write_traffic(training_inputs.head(20))))
    assert code == 0 and data["verdict"] == "insufficient"
    assert set(verdicts(data).values()) == {"few"}


def test_a_field_clients_never_send_is_absent_not_drift(demo, training_inputs, write_traffic):
    logs = write_traffic(training_inputs.assign(temperature=None), unsent=("temperature",))
    code, data = monitor_json(demo, "--log", str(logs))
    assert code == 0
    assert verdicts(data)["temperature"] == "absent"


def test_cut_off_lines_and_failed_requests_are_counted_not_fatal(demo, training_inputs, write_traffic):
    logs = write_traffic(training_inputs.sample(300, random_state=8), failed=5)
    log_file = next(logs.glob("*.jsonl"))
    with log_file.open("a") as handle:
        handle.write('{"ts": "2024-01-01T00:00:00Z", "status": 200, "inpu\n')
    code, data = monitor_json(demo, "--log", str(log_file))
    assert code == 0
    assert data["traffic"]["bad_lines"] == 1 and data["traffic"]["failed"] == 5
    assert any("not JSON" in note for note in data["notes"])


def test_table_output_and_errors(demo, training_inputs, write_traffic, tmp_path):
    logs = write_traffic(shifted(training_inputs, seed=9))
    result = run("monitor", str(demo.root), "--log", str(logs))
    assert result.code == 1
    assert "temperature" in result.stdout and "airport" in result.stdout
    assert "drift in store, temperature" in result.err
    missing = run("monitor", str(demo.root), "--log", str(tmp_path / "nowhere"))
    assert missing.code == 2 and "does not exist" in missing.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("monitor", str(demo.root), "--log", str(empty)).code == 2
    both = run("monitor", str(demo.root), "--log", str(logs), "--env", "dev")
    assert both.code == 2
    bad_since = run("monitor", str(demo.root), "--log", str(logs), "--since", "yesterday")
    assert bad_since.code == 2 and "--since" in bad_since.err


def test_monitor_without_a_reference_says_how_to_get_one(tmp_path, training_inputs, write_traffic):
    from mlship.scaffold import init_project

    init_project(directory=tmp_path / "untrained", no_input=True)
    logs = write_traffic(training_inputs.head(50))
    result = run("monitor", str(tmp_path / "untrained"), "--log", str(logs))
    assert result.code == 2
    assert "mlship train" in result.err


def test_logs_of_another_model_version_are_flagged(demo, training_inputs, write_traffic):
    logs = write_traffic(training_inputs.head(150), model_version="0.0.9+0123456789ab")
    code, data = monitor_json(demo, "--log", str(logs))
    assert code == 0
    assert any(
        "0.0.9+0123456789ab" in note and "reference belongs to model" in note for note in data["notes"]
    )


def test_without_log_or_env_reads_the_local_logging_path(demo, training_inputs, write_traffic):
    import shutil

    local = demo.root / demo.config.logging.path  # where `mlship serve` writes on this machine
    try:
        write_traffic(training_inputs.sample(200, random_state=12), log_dir=local)
        code, data = monitor_json(demo)
        assert code == 0 and data["traffic"]["records"] == 200
        assert all(source.startswith(str(local)) for source in data["sources"])
    finally:
        shutil.rmtree(local, ignore_errors=True)
