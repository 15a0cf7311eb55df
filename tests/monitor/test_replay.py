"""`mlship replay`: logged inputs re-scored by another model version, in-process or in a container."""

from __future__ import annotations

import io
import json
import os
import uuid

import pytest

from mlship.monitor.replay import replay
from tests.support import require_docker, run_mlship


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def test_same_model_agrees_everywhere(demo, training_inputs, write_traffic):
    logs = write_traffic(training_inputs.sample(300, random_state=1), failed=4, batch=5)
    result = replay(logs=[logs], model=str(demo.root))
    assert result.records == 300 and result.compared == 300 and result.agreed == 300
    assert result.differences["prediction"]["max_abs"] == 0.0 and result.rejected == 0


def test_new_version_reports_agreement_and_differences(demo, retrained, training_inputs, write_traffic):
    logs = write_traffic(training_inputs.sample(300, random_state=2))
    result = replay(logs=[logs], model=str(retrained.root), tolerance=1.0)
    assert result.model_version != demo.config.version  # the new artifacts' digest is in it
    diff = result.differences["prediction"]
    assert diff["count"] == 300 and 0 < diff["mean_abs"] < 30
    assert 0 < result.agreed < 300 and result.agreement == result.agreed / 300
    assert len(result.worst) == 5 and result.worst[0]["abs_diff"] == diff["max_abs"]
    # The CLI gates on --min-agreement: exit 1 below it, 0 at or above.
    gated = run_mlship("replay", str(logs), "--model", str(retrained.root), "--min-agreement", "0.999")
    assert gated.returncode == 1 and "below --min-agreement" in " ".join(gated.stderr.split())
    ok = run_mlship("replay", str(logs), "--model", str(retrained.root), "--json", "--limit", "40")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["records"] == 40 and data["passed"] is True


def test_records_the_new_model_rejects_are_counted(demo, training_inputs, write_traffic):
    # An old version that accepted records without a price; this one needs the field.
    logs = write_traffic(training_inputs.head(30).assign(price=None), unsent=("price",))
    result = replay(logs=[logs], model=str(demo.root))
    assert result.rejected == 30 and result.compared == 0 and result.agreement is None


@pytest.mark.docker
def test_replay_against_a_real_mlship_image(mlship_image, pipeline, training_inputs, logfmt, tmp_path):
    """The image `mlship build` makes, run on the real engine: it answers as the model in-process
    does, so 30 of 50 logged answers agree (20 were logged 1.0 off) and a record without the
    required price is rejected by the image's own schema validation."""
    from mlship.engine import docker_client

    records = training_inputs.head(50).to_dict("records")
    answers = pipeline.predict_records(records)
    logged = [answer + (0 if i < 30 else 1.0) for i, answer in enumerate(answers)]
    records.append({k: v for k, v in records[0].items() if k != "price"})  # logged as served
    logged.append(5.0)
    logs = logfmt.write(tmp_path / "logs", logfmt.lines(records, logged, batch=7))
    result = replay(logs=[logs], model=mlship_image, tolerance=1e-6)
    assert result.model_version.startswith("0.1.0+")
    assert (result.records, result.compared, result.agreed, result.rejected) == (51, 50, 30, 1)
    assert result.differences["prediction"]["percentiles"]["50"] == pytest.approx(0.0)
    assert result.differences["prediction"]["max_abs"] == pytest.approx(1.0)
    leftovers = docker_client().containers.list(all=True, filters={"label": "io.mlship.role=replay"})
    assert not [c for c in leftovers if c.image.tags and c.image.tags[0] == mlship_image]


def test_unknown_model_is_a_usage_error(training_inputs, write_traffic):
    from mlship.errors import MlshipError

    logs = write_traffic(training_inputs.head(5))
    require_docker()  # the image lookup needs the engine (a failure in CI, a skip elsewhere)
    with pytest.raises(MlshipError) as caught:
        replay(logs=[logs], model="mlship-t9-no-such-image:nope")
    assert (
        caught.value.exit_code == 2
        and "neither a project directory nor a local image" in caught.value.message
    )


def test_an_environments_own_traffic_is_replayed_without_a_path(demo, training_inputs, write_traffic):
    """`replay --env` and the differential check of `test --against ENV` read the directory deploy
    mounts (logs/environments/ENV), and leave out what the gate sent."""
    import shutil

    from mlship.contract.differential import replay_sample

    logs = write_traffic(
        training_inputs.sample(120, random_state=9), log_dir=demo.root / "logs/environments/prod"
    )
    gate = json.loads(next(logs.glob("*.jsonl")).read_text().splitlines()[0])
    gate.update(origin="gate", inputs=[{**gate["inputs"][0], "store": "from-the-gate"}])
    with next(logs.glob("*.jsonl")).open("a") as handle:
        handle.write(json.dumps(gate) + "\n")
    try:
        done = run_mlship(
            "replay", "--env", "prod", "-C", str(demo.root), "--model", str(demo.root), "--json"
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["records"] == 120
        records, source = replay_sample(demo, None, 1000, "prod")
        assert source == "logs/environments/prod" and len(records) == 120
        assert not any(r.get("store") == "from-the-gate" for r in records)
        nothing = run_mlship("replay", "--model", str(demo.root))
        assert nothing.returncode == 2 and "--env ENV" in " ".join(nothing.stderr.split())
    finally:
        shutil.rmtree(demo.root / "logs" / "environments", ignore_errors=True)


@pytest.fixture
def unstartable_image():
    """An image whose CMD does not exist: the engine creates its container and cannot start it."""
    from mlship.engine import docker_client

    require_docker()
    client = docker_client()
    tag = f"mlship-seams13-nostart:{uuid.uuid4().hex[:8]}"
    dockerfile = b'FROM mlship-base:bookworm\nEXPOSE 8080\nCMD ["/no/such/program"]\n'
    client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    yield tag
    client.images.remove(tag, force=True)


@pytest.mark.docker
def test_a_replay_container_that_cannot_start_is_exit_2_and_is_removed(unstartable_image):
    from mlship.engine import docker_client
    from mlship.errors import ExitCode, InputError
    from mlship.monitor.scorers import ContainerScorer

    with pytest.raises(InputError, match="cannot be started") as err:
        ContainerScorer(unstartable_image)
    assert err.value.exit_code == ExitCode.USAGE and "/no/such/program" in err.value.message
    leftovers = docker_client().containers.list(all=True, filters={"ancestor": unstartable_image})
    assert leftovers == []


def test_an_engine_error_is_not_blamed_on_the_reference(monkeypatch):
    """An engine that answers 500 to an image lookup (a stand-in speaking the engine's HTTP API: the
    shared real engine cannot be made to fail) is exit 3 naming the engine, not 'neither a project nor an
    image'."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlship.errors import ExitCode, UnreachableError
    from mlship.monitor.scorers import ContainerScorer

    class Engine(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.endswith("/_ping"):
                status, body = 200, b"OK"
            elif self.path.endswith("/version"):
                status, body = 200, json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode()
            else:
                status, body = 500, json.dumps({"message": "layer store is corrupt"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Engine)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{httpd.server_address[1]}")
    try:
        with pytest.raises(UnreachableError, match="layer store is corrupt") as err:
            ContainerScorer("team/app:1")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert err.value.exit_code == ExitCode.UNREACHABLE
