"""`mlship replay`: logged inputs re-scored by another model version, in-process or in a container."""

from __future__ import annotations

import io
import json
import os
import textwrap
import uuid

import pytest
from typer.testing import CliRunner

from mlship.cli import app
from mlship.monitor.replay import replay
from tests.support import require_docker


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
    runner = CliRunner()
    gated = runner.invoke(
        app, ["replay", str(logs), "--model", str(retrained.root), "--min-agreement", "0.999"]
    )
    assert gated.exception.exit_code == 1 and "below --min-agreement" in gated.exception.message
    ok = runner.invoke(app, ["replay", str(logs), "--model", str(retrained.root), "--json", "--limit", "40"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["records"] == 40 and data["passed"] is True


def test_records_the_new_model_rejects_are_counted(demo, training_inputs, write_traffic):
    # An old version that accepted records without a price; this one needs the field.
    logs = write_traffic(training_inputs.head(30).assign(price=None), unsent=("price",))
    result = replay(logs=[logs], model=str(demo.root))
    assert result.rejected == 30 and result.compared == 0 and result.agreement is None


@pytest.fixture(scope="module")
def stub_image(tmp_path_factory):
    """An image answering /readyz and /predict (price * 10) on $PORT: replay runs it on the real engine.

    It stands in for an image built by `mlship build` until the serving runtime lands in this branch.
    """
    from mlship.engine import docker_client
    from mlship.errors import UnreachableError

    try:
        client = docker_client()
        client.images.get("mlship-base:bookworm")
    except (UnreachableError, Exception) as exc:
        if in_ci():
            pytest.fail(f"docker and mlship-base:bookworm are required in CI: {exc}")
        pytest.skip(f"needs the docker engine and mlship-base:bookworm ({exc})")
    context = tmp_path_factory.mktemp("stub")
    (context / "server.py").write_text(
        textwrap.dedent("""
        import json, os
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200 if self.path == "/readyz" else 404, {})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                records = body["records"]
                if any("price" not in r for r in records):
                    return self._send(422, {"error": "price is required"})
                out = [round(r["price"] * 10, 2) for r in records]
                self._send(200, {"predictions": out, "model_version": "9.9.9+stub", "request_id": "x"})

        HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
    """)
    )
    (context / "Dockerfile").write_text(
        'FROM mlship-base:bookworm\nCOPY server.py /server.py\nEXPOSE 8080\nCMD ["python3", "/server.py"]\n'
    )
    tag = f"mlship-t9-replay-stub:{uuid.uuid4().hex[:8]}"
    client.images.build(path=str(context), tag=tag, rm=True, labels={"io.mlship.version": "9.9.9"})
    yield tag
    client.images.remove(tag, force=True)


@pytest.mark.docker
def test_replay_against_an_image(stub_image, training_inputs, logfmt, tmp_path):
    from mlship.engine import docker_client

    records = training_inputs.head(50)[["price", "store"]].to_dict("records")
    logged = [round(r["price"] * 10, 2) + (0 if i < 30 else 1.0) for i, r in enumerate(records)]
    records.append({"store": "north"})  # logged as served; the image rejects it
    logged.append(5.0)
    logs = logfmt.write(tmp_path / "logs", logfmt.lines(records, logged, batch=7))
    result = replay(logs=[logs], model=stub_image)
    assert result.model_version == "9.9.9+stub"
    assert (result.records, result.compared, result.agreed, result.rejected) == (51, 50, 30, 1)
    assert result.differences["prediction"]["percentiles"]["50"] == pytest.approx(0.0)
    assert result.differences["prediction"]["max_abs"] == pytest.approx(1.0)
    leftovers = docker_client().containers.list(all=True, filters={"label": "io.mlship.role=replay"})
    assert not [c for c in leftovers if c.image.tags and c.image.tags[0] == stub_image]


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
        done = CliRunner().invoke(
            app, ["replay", "--env", "prod", "-C", str(demo.root), "--model", str(demo.root), "--json"]
        )
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["records"] == 120
        records, source = replay_sample(demo, None, 1000, "prod")
        assert source == "logs/environments/prod" and len(records) == 120
        assert not any(r.get("store") == "from-the-gate" for r in records)
        nothing = CliRunner().invoke(app, ["replay", "--model", str(demo.root)])
        assert nothing.exception.exit_code == 2 and "--env ENV" in nothing.exception.message
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
