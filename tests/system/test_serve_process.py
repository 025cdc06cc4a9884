"""`sentiment serve` as a real process on a free port, called over HTTP; `sentiment export`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port

READY_TIMEOUT_S = 180  # TensorFlow import + model load + warm-up on a busy 2-core machine


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from flows.cli import main; main()", *args]


@pytest.fixture
def server(tiny_champion_root, tmp_path):
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        cli("serve", "--data-root", tiny_champion_root.url, "--port", str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SENTIMENT_SERVE_POLL_SECONDS": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "service not ready:\n" + (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_serve_answers_over_http_and_stops_cleanly(server, tmp_path):
    base, process = server
    one = httpx.post(f"{base}/v1/predict", json={"text": "the blender is fantastic", "title": "love it"}, timeout=30)
    assert one.status_code == 200 and one.json()["model_version"] == "20260101T000000Z-cafe0001"
    many = httpx.post(f"{base}/v1/predict", json={"reviews": [{"text": "awful"}, {"text": "so so"}]}, timeout=30)
    assert len(many.json()["predictions"]) == 2
    assert httpx.post(f"{base}/v1/predict", content=b"{", headers={"content-type": "application/json"}, timeout=30).status_code == 422
    assert 'route="/v1/predict",status="200"' in httpx.get(f"{base}/metrics", timeout=30).text
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0


def test_serve_without_a_champion_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(cli("serve", "--data-root", str(tmp_path), "--port", str(free_port())), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    # (TensorFlow may log its start-up lines before it on stderr)
    assert done.stderr.strip().splitlines()[-1].startswith("error: no champion model") and "Traceback" not in done.stderr


def test_serve_with_a_bad_setting_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(cli("serve", "--data-root", str(tmp_path), "--runtime", "tensorrt"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: invalid setting: serve_runtime") and "Traceback" not in done.stderr


def test_export_command_writes_a_folder(tiny_champion_root, tmp_path):
    out = tmp_path / "exported"
    done = subprocess.run(cli("export", "--data-root", tiny_champion_root.url, "--format", "onnx", "--quantize", "dynamic", "--out", str(out)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "model.onnx").is_file() and "int8 weights" in done.stdout
    bad = subprocess.run(cli("export", "--data-root", tiny_champion_root.url, "--format", "pmml"), capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "use onnx or tflite" in bad.stderr
    assert not Path("exports").exists() or not any(Path("exports").glob("*pmml*"))
