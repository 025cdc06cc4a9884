"""Hostile clients against a real uvicorn server (in this process, on 127.0.0.1): a
chunked body far over the limit, clients that stall in their headers or their body.

Behaviour only, no latency assertions (this machine is shared); timings are measured by
``python -m benchmarks.serving_hostile``."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
import uvicorn

from sentiment_model.core.layout import DataRoot
from sentiment_model.serving.app import create_app
from sentiment_model.serving.server import server_config
from tests.processes import free_port
from tests.unit.serving.test_service import TIMEOUT_S, settings_for, wait_for

LIMIT = 1 << 20  # the body limit under test: 1 MB
DECLARED = 1 << 30  # what the hostile client offers to send: 1 GB
OVERSHOOT = 64 << 20  # the server has read far too much once the client got this past the limit
CHUNK = 64 << 10
HEADER_TIMEOUT_S, BODY_TIMEOUT_S = 0.5, 1.0


@contextlib.contextmanager
def running_server(root: DataRoot, **overrides: object) -> Iterator[tuple[str, int]]:
    """``sentiment serve``'s uvicorn setup in a thread; yields (host, port) once ready."""
    settings = settings_for(root, **overrides)
    port = free_port()
    server = uvicorn.Server(server_config(settings, create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "the server to listen")
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=TIMEOUT_S).status_code == 200, "the model to load")
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(TIMEOUT_S)


@pytest.fixture(scope="module")
def server(tiny_champion_root):
    with running_server(tiny_champion_root, serve_max_body_bytes=LIMIT, serve_header_timeout_s=HEADER_TIMEOUT_S, serve_body_timeout_s=BODY_TIMEOUT_S, serve_latency_budget_ms=60_000) as address:
        yield address


def read_until_closed(sock: socket.socket, timeout: float = TIMEOUT_S) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection; (data, closed)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return data, False
    except ConnectionResetError:
        pass
    return data, True


def test_chunked_body_over_the_limit_is_413_without_reading_it_all(server):
    """Item 1: a chunked body has no Content-Length; the bytes are counted as they come."""
    rss_before = psutil.Process().memory_info().rss
    sent, response = 0, b""
    with socket.create_connection(server) as sock:
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % CHUNK + b'{"text": "' + b"a" * (CHUNK - 10) + b"\r\n"
        sock.setblocking(False)
        while sent < DECLARED and not response:
            readable, writable, _ = select.select([sock], [sock], [], TIMEOUT_S)
            if readable:
                try:
                    response = sock.recv(65536)
                except ConnectionResetError:
                    pytest.fail(f"connection reset before any answer, after {sent} bytes")
                break
            assert writable, "the server neither reads nor answers"
            try:
                sent += sock.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            assert sent < LIMIT + OVERSHOOT, f"the server read {sent} bytes of a chunked body with a limit of {LIMIT}"
        sock.setblocking(True)
        rest, closed = read_until_closed(sock)
    response += rest
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"over the limit" in response and closed
    assert psutil.Process().memory_info().rss - rss_before < 100 << 20
    assert httpx.post(f"http://{server[0]}:{server[1]}/v1/predict", json={"text": "still fine"}, timeout=TIMEOUT_S).status_code == 200


def test_declared_length_over_the_limit_is_413_before_the_body(server):
    with socket.create_connection(server) as sock:
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % DECLARED)
        response, closed = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 413") and closed


def stalled(server: tuple[str, int], first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(server)
    sock.sendall(first_bytes)
    return sock


def test_stalled_clients_are_disconnected_and_valid_requests_still_served(server):
    """Item 1: a client that stops mid-headers or mid-body is dropped at its deadline."""
    started = time.monotonic()
    silent = [stalled(server, b"") for _ in range(5)]
    mid_headers = [stalled(server, b"POST /v1/predict HTTP/1.1\r\nHost: te") for _ in range(5)]
    mid_body = [stalled(server, b'POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"text":') for _ in range(5)]
    try:
        valid = httpx.post(f"http://{server[0]}:{server[1]}/v1/predict", json={"text": "works fine"}, timeout=TIMEOUT_S)
        assert valid.status_code == 200
        for sock in silent + mid_headers:
            data, closed = read_until_closed(sock)
            assert closed and data == b"", data
        for sock in mid_body:
            data, closed = read_until_closed(sock)
            assert closed and data.startswith(b"HTTP/1.1 408"), data[:200]
        assert time.monotonic() - started >= HEADER_TIMEOUT_S  # not before the deadline
    finally:
        for sock in silent + mid_headers + mid_body:
            sock.close()


def test_trickled_headers_are_cut_at_the_header_deadline(server):
    """One byte at a time keeps resetting uvicorn's idle timer; the header deadline holds."""
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 10_000
    with socket.create_connection(server) as sock:
        started, sent = time.monotonic(), 0
        try:
            while sent < len(request) and time.monotonic() - started < TIMEOUT_S:
                sock.sendall(request[sent : sent + 1])
                sent += 1
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = read_until_closed(sock, timeout=5)
    assert closed and data == b"" and sent < len(request), f"{sent} bytes trickled, closed={closed}"


def test_keep_alive_connection_still_works_between_requests(server):
    """The deadline is per request: a connection reused within it keeps serving."""
    with httpx.Client(base_url=f"http://{server[0]}:{server[1]}", timeout=TIMEOUT_S) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
