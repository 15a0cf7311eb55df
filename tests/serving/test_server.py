"""The runtime as a real process: start-up time, load, SIGTERM, GPU refusal, `mlship serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlship.serving.pipeline import RuntimeSpec
from mlship.serving.predlog import read_log

from .conftest import ROW, free_port, spec_with, wait_ready

pytestmark = pytest.mark.timeout(180)


def hammer(url: str, ids: list[str], ok: list[str], errors: list[Any], stop: threading.Event, n: int) -> None:
    """One client: up to `n` requests (bounded), recording the ids answered 200."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for request_id in ids[:n]:
            if stop.is_set():
                return
            rows = [ROW] if len(ok) % 3 else [ROW] * 10
            try:
                response = client.post(
                    "/predict", json={"records": rows}, headers={"x-request-id": request_id}
                )
            except httpx.TransportError as exc:
                errors.append(exc)
                return
            if response.status_code == 200:
                assert len(response.json()["predictions"]) == len(rows)
                ok.append(request_id)
            else:
                errors.append(response.status_code)


def run_clients(url: str, clients: int, per_client: int, stop: threading.Event) -> tuple[list, list, list]:
    ok: list[str] = []
    errors: list[Any] = []
    threads = []
    for c in range(clients):
        ids = [f"c{c}-{i}" for i in range(per_client)]
        threads.append(threading.Thread(target=hammer, args=(url, ids, ok, errors, stop, per_client)))
    for thread in threads:
        thread.start()
    return ok, errors, threads


def test_load_with_zero_errors(spec: RuntimeSpec, server_factory: Any, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    server = server_factory(spec_with(spec, log_dir))
    wait_ready(server.url, server.process)
    stop = threading.Event()
    ok, errors, threads = run_clients(server.url, 16, 40, stop)
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(ok) == 16 * 40
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'mlship_requests_total{endpoint="/predict",status="200"} 640.0' in metrics
    batches = [ln for ln in metrics.splitlines() if ln.startswith("mlship_model_batch_rows_count")]
    assert float(batches[0].rsplit(" ", 1)[1]) < 640  # some queued requests were scored together
    assert server.stop() == 0
    assert {row["request_id"] for row in read_log(log_dir)} == set(ok)


def test_sigterm_during_load_loses_no_logged_request(
    spec: RuntimeSpec, server_factory: Any, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    # A long flush interval: what reaches the log must come from the flush at shutdown.
    server = server_factory(spec_with(spec, log_dir, {"flush_interval": 30}))
    wait_ready(server.url, server.process)
    stop = threading.Event()
    ok, errors, threads = run_clients(server.url, 8, 2000, stop)
    deadline = time.monotonic() + 30
    while len(ok) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=60)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert code == 0, server.log_text()
    answered = set(ok)
    logged = {row["request_id"]: row for row in read_log(log_dir)}
    assert len(answered) >= 200
    assert answered <= set(logged), f"{len(answered - set(logged))} answered requests missing from the log"
    assert all(logged[i]["status"] == 200 and logged[i]["outputs"] for i in answered)
    assert all(not isinstance(e, int) for e in errors), errors  # only refused connections after shutdown


def test_port_env_and_log_dir_env(spec: RuntimeSpec, tmp_path: Path) -> None:
    port = free_port()
    spec_file = tmp_path / "runtime.json"
    spec_file.write_text(json.dumps(spec.to_dict()))
    env = {**os.environ, "PORT": str(port), "MLSHIP_LOG_DIR": str(tmp_path / "envlog")}
    argv = [
        sys.executable,
        "-m",
        "mlship.serving",
        "--spec",
        str(spec_file),
        "--host",
        "127.0.0.1",
        "--port",
        "1",
    ]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        assert httpx.post(f"{url}/predict", json={"records": [ROW]}).status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert len(read_log(tmp_path / "envlog")) == 1


def test_gpu_required_without_gpu_refuses_to_start(spec: RuntimeSpec, tmp_path: Path) -> None:
    spec_file = tmp_path / "runtime.json"
    spec_file.write_text(json.dumps({**spec.to_dict(), "gpu": "required"}))
    argv = [sys.executable, "-m", "mlship.serving", "--spec", str(spec_file), "--port", str(free_port())]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "gpu: required" in result.stderr and "no GPU is visible" in result.stderr


def test_gpu_optional_falls_back_to_cpu(spec: RuntimeSpec, server_factory: Any, tmp_path: Path) -> None:
    import dataclasses

    server = server_factory(dataclasses.replace(spec_with(spec, tmp_path / "log"), gpu="optional"))
    wait_ready(server.url, server.process)
    assert httpx.get(f"{server.url}/readyz").json()["device"] == "cpu"


def test_broken_model_exits_with_a_message(spec: RuntimeSpec, tmp_path: Path) -> None:
    spec_file = tmp_path / "runtime.json"
    spec_file.write_text(json.dumps({**spec.to_dict(), "artifact_dir": str(tmp_path / "missing")}))
    argv = [sys.executable, "-m", "mlship.serving", "--spec", str(spec_file), "--port", str(free_port())]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "run `mlship train` first" in result.stderr


def test_mlship_serve_answers_fast(project_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    mlship = Path(sys.executable).with_name("mlship")
    argv = [str(mlship), "serve", str(project_dir), "--port", str(port), "--log-dir", str(tmp_path / "log")]
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    alive = None
    try:
        while time.monotonic() - started < 30 and alive is None:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    alive = time.monotonic() - started
            except httpx.TransportError:
                time.sleep(0.01)
        assert alive is not None and alive < 2.0, alive
        wait_ready(url, process)
        response = httpx.post(f"{url}/predict", json={"records": [ROW]})
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    assert len(read_log(tmp_path / "log")) == 1


def test_mlship_serve_errors(project_dir: Path, tmp_path: Path) -> None:
    import socket

    mlship = str(Path(sys.executable).with_name("mlship"))
    untrained = tmp_path / "untrained"
    untrained.mkdir()
    (untrained / "mlship.yaml").write_text((project_dir / "mlship.yaml").read_text())
    result = subprocess.run([mlship, "serve", str(untrained)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "mlship train" in result.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        argv = [mlship, "serve", str(project_dir), "--port", str(busy.getsockname()[1])]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "choose another --port" in result.stderr


def test_unwritable_log_dir_refuses_to_start(spec: RuntimeSpec, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spec_file = tmp_path / "runtime.json"
    spec_file.write_text(json.dumps(spec.to_dict()))
    argv = [sys.executable, "-m", "mlship.serving", "--spec", str(spec_file), "--port", str(free_port())]
    argv += ["--log-dir", str(blocker / "log")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot write the prediction log" in result.stderr


def _ready_everywhere(url: str, process: Any, times: int = 10) -> None:
    """/readyz on `times` fresh connections in a row: with several workers, each has loaded."""
    wait_ready(url, process)
    deadline, streak = time.monotonic() + 90, 0
    while streak < times:
        assert time.monotonic() < deadline, "not every worker became ready"
        streak = streak + 1 if httpx.get(f"{url}/readyz", timeout=5).status_code == 200 else 0


@pytest.mark.slow
def test_metrics_sum_over_workers(spec: RuntimeSpec, server_factory: Any, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    server = server_factory(spec_with(spec, log_dir), "--workers", "2")
    _ready_everywhere(server.url, server.process)
    answered: list[int] = []

    def client(n: int) -> None:
        for i in range(n):  # a fresh connection every 5 requests, so both workers take some
            if i % 5 == 0:
                session = httpx.Client(base_url=server.url, timeout=30)
            answered.append(session.post("/predict", json={"records": [ROW]}).status_code)
            if i % 5 == 4:
                session.close()

    threads = [threading.Thread(target=client, args=(125,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answered == [200] * 1000
    wanted = 'mlship_requests_total{endpoint="/predict",status="200"} 1000.0'
    for _ in range(10):  # whichever worker answers the scrape, it shows every worker's requests
        scrape = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert wanted in scrape, [ln for ln in scrape.splitlines() if ln.startswith("mlship_requests_total")]
        assert "\nmlship_ready 1.0\n" in scrape and "\nmlship_request_rows_count 1000.0\n" in scrape
    assert server.stop() == 0
    rows = read_log(log_dir)
    assert len(rows) == 1000
    workers = {path.name.rsplit("-", 1)[1] for path in log_dir.glob("predictions-*.jsonl")}
    assert len(workers) == 2  # both workers answered some of the thousand


def _exchange(port: int, head: bytes, body: Any, pause: float = 0.0) -> tuple[bytes, int, bool]:
    """Send `head`, then pieces of `body` until the server answers: (answer, body bytes sent,
    whether the server closed the connection)."""
    import select
    import socket

    sent, answer, closed = 0, b"", False
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + 30
        pieces = iter(body)
        while time.monotonic() < deadline and not closed:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                answer += data
                closed = not data
                continue
            if writable and b"\r\n\r\n" not in answer:
                piece = next(pieces, None)
                if piece is None:
                    time.sleep(0.05)
                    continue
                try:
                    sock.sendall(piece)
                except (BrokenPipeError, ConnectionResetError):
                    continue
                sent += len(piece)
                time.sleep(pause)
    return answer, sent, closed


def test_oversized_chunked_body_is_refused_while_it_streams(
    spec: RuntimeSpec, server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory(spec_with(spec, tmp_path / "log", max_body_bytes=65536))
    wait_ready(server.url, server.process)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Transfer-Encoding: chunked\r\n\r\n"
    piece = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    answer, sent, closed = _exchange(server.port, head, [piece] * 1000)  # 64 MB, if it were all read
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower() and closed
    assert sent < 16 * 1024 * 1024, sent  # the limit plus what socket buffers took, not 64 MB


def test_a_body_sent_a_byte_at_a_time_times_out(
    spec: RuntimeSpec, server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory(spec_with(spec, tmp_path / "log", body_timeout=1.0))
    wait_ready(server.url, server.process)
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    )
    started = time.monotonic()
    answer, sent, closed = _exchange(server.port, head, [b" "] * 500, pause=0.1)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert closed and sent < 40 and time.monotonic() - started < 10
    assert httpx.post(f"{server.url}/predict", json={"records": [ROW]}).status_code == 200


def test_requests_arriving_together_are_batched(
    spec: RuntimeSpec, server_factory: Any, tmp_path: Path
) -> None:
    """16 keep-alive connections, each sending its next request as soon as it has an answer: the
    requests parsed in one turn of the event loop share a model call, so far fewer model calls
    than requests. (Scoring a request at once when it looks alone in the worker gave one call
    per request here: its neighbours' bytes are parsed only in the loop's next turns.)"""
    import asyncio

    server = server_factory(spec_with(spec, tmp_path / "log"))
    wait_ready(server.url, server.process)
    body = json.dumps({"records": [ROW]}).encode()
    request = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def client(count: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        ok = 0
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            ok += head.startswith(b"HTTP/1.1 200")
        writer.close()
        return ok

    async def run() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(client(40) for _ in range(16))), 120)

    assert sum(asyncio.run(run())) == 640
    metrics = httpx.get(f"{server.url}/metrics").text
    calls = next(ln for ln in metrics.splitlines() if ln.startswith("mlship_model_batch_rows_count"))
    assert float(calls.rsplit(" ", 1)[1]) < 0.5 * 640, calls
