"""Request guards against hostile clients: a body limit counted as bytes arrive, a body
read deadline, and a header read deadline on the connection.

The body guard is a pure-ASGI middleware around ``receive``: a chunked body has no
``Content-Length`` to check up front, so the bytes are counted as the app reads them and
the request fails with 413 the moment the count passes the limit; at most the limit is
ever held. A body that stops arriving fails with 408 at the deadline. Either answer
closes the connection, so the rest of a huge body is never read.

Headers are parsed by uvicorn before the app sees a request, so their deadline lives in
the HTTP protocol (:func:`header_timeout_protocol`): uvicorn's keep-alive timer restarts on
every byte, which a client trickling one header byte at a time keeps alive forever. The
same protocol closes a connection whose body is still coming gently (a lingering close):
closing a socket with unread bytes sends a reset, which can destroy the 413 before the
client reads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CLOSE = {"Connection": "close"}
LINGER_S = 2.0  # after answering mid-body: how long the rest is read and dropped before closing
LINGER_BYTES = 16 << 20  # ... and how much of it


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes", headers=CLOSE)


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"request body not received within {seconds:g} s", headers=CLOSE)


class _GuardedReceive:
    """``receive`` that counts body bytes and enforces the body deadline."""

    def __init__(self, receive: Any, max_bytes: int, timeout: float) -> None:
        self.receive, self.max_bytes, self.timeout = receive, max_bytes, timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.received, self.complete = 0, False

    async def __call__(self) -> dict[str, Any]:
        if self.complete:  # after the body only http.disconnect comes: no deadline
            return await self.receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.receive()
        except TimeoutError:
            raise BodyTimeout(self.timeout) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            self.complete = not message.get("more_body", False)
        return message


class RequestGuard:
    """ASGI middleware: 413 on a declared or counted body over ``max_body_bytes``, 408 on
    a body slower than ``body_timeout`` seconds; ``Connection: close`` on any answer given
    before the body was read to its end."""

    def __init__(self, app: Any, max_body_bytes: int, body_timeout: float) -> None:
        self.app, self.max_body_bytes, self.body_timeout = app, max_body_bytes, body_timeout

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            response = JSONResponse({"detail": f"request body of {int(length)} bytes is over the limit of {self.max_body_bytes}"}, 413, headers=CLOSE)
            await response(scope, receive, send)
            return
        has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
        guarded = _GuardedReceive(receive, self.max_body_bytes, self.body_timeout)
        started = False

        async def send_closing_early(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                response_headers = list(message.get("headers", []))
                # Else uvicorn reads (and drops) the unread rest of the body to reuse the connection.
                if has_body and not guarded.complete and all(name.lower() != b"connection" for name, _ in response_headers):
                    message = {**message, "headers": [*response_headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded, send_closing_early)
        except (BodyTooLarge, BodyTimeout) as exc:  # raised where no handler turned it into a response
            if started:
                raise
            await JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)(scope, receive, send)


class _LingeringClose:
    """The connection's transport, whose ``close`` while the request body is still coming
    sends the response and our FIN, then drops what arrives for up to ``LINGER_S`` /
    ``LINGER_BYTES`` before the real close."""

    def __init__(self, transport: asyncio.Transport, body_unread: Any) -> None:
        self._transport, self._body_unread = transport, body_unread
        self.lingering, self.dropped = False, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        if not (self._body_unread() and self._transport.can_write_eof()):
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()  # after the buffered response
        self._transport.resume_reading()
        asyncio.get_running_loop().call_later(LINGER_S, self._transport.close)

    def drop(self, data: bytes) -> None:
        self.dropped += len(data)
        if self.dropped > LINGER_BYTES:
            self._transport.close()


class _HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol with an absolute deadline on each request's headers,
    armed when the connection opens and after each response, cleared when they are in;
    and a lingering close."""

    header_timeout = 10.0
    _header_timer: asyncio.TimerHandle | None = None
    transport: Any

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringClose(transport, self._body_unread))  # type: ignore[arg-type]
        self._arm()

    def _body_unread(self) -> bool:
        return self.cycle is not None and self.cycle.more_body and not self.cycle.disconnected

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:
            self.transport.drop(data)
            return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # not a pipelined request already parsed
        if idle and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """The HTTP protocol class for uvicorn's ``http=`` with a ``seconds`` header deadline."""
    return type("HeaderDeadlineProtocol", (_HeaderDeadline,), {"header_timeout": seconds})
