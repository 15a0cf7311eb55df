"""The serving protocol: uvicorn's httptools protocol writing each answer once, and naming the
open connections for the batch queue. Driven as uvicorn drives it, on a recording transport."""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import uvicorn
from uvicorn.server import ServerState

from mlship.serving.app import Head
from mlship.serving.protocol import OneWrite, Protocol, protocol_class


class Transport(asyncio.Transport):
    """What the event loop would hand the protocol: records every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


seen: list[bool] = []


async def app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the body, notes whether the request was alone, answers it in two ASGI messages."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    seen.append(Head.of(scope).alone)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body) + 2).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"[" + body + b"]"})


def request(body: bytes = b"1", expect: bool = False) -> bytes:
    head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n"
    return (head + ("Expect: 100-continue\r\n" if expect else "") + "\r\n").encode() + body


def connect(state: ServerState, cls: type = Protocol) -> tuple[Any, Transport]:
    config = uvicorn.Config(app, http=cls, lifespan="off", log_level="warning")
    config.load()
    protocol = cls(config=config, server_state=state, app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


def responses(data: bytes) -> list[tuple[int, bytes]]:
    """Every complete response in `data`, parsed by httptools: (status, body)."""
    out: list[tuple[int, bytes]] = []

    class Sink:
        body = b""

        def on_body(self, chunk: bytes) -> None:
            self.body += chunk

        def on_message_complete(self) -> None:
            out.append((parser.get_status_code(), self.body))
            self.body = b""

    parser = httptools.HttpResponseParser(Sink())
    parser.feed_data(data)
    return out


async def settle() -> None:
    for _ in range(20):  # the request's task, its send calls and the protocol's callbacks
        await asyncio.sleep(0)


def test_an_answer_is_one_write_and_a_whole_response() -> None:
    async def run() -> list[bytes]:
        protocol, transport = connect(ServerState())
        protocol.data_received(request(b'{"a": 1}'))
        await settle()
        return transport.writes

    writes = asyncio.run(run())
    assert len(writes) == 1, writes  # uvicorn's own protocol writes the head and the body apart
    assert responses(writes[0]) == [(200, b'[{"a": 1}]')]


def test_uvicorns_own_protocol_would_write_twice() -> None:
    # What the test above guards against: the same exchange on the plain protocol.
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    async def run() -> list[bytes]:
        protocol, transport = connect(ServerState(), HttpToolsProtocol)
        protocol.data_received(request())
        await settle()
        return transport.writes

    assert len(asyncio.run(run())) == 2


def test_100_continue_is_sent_at_once_then_the_answer() -> None:
    async def run() -> list[bytes]:
        protocol, transport = connect(ServerState())
        whole = request(b"12345", expect=True)
        protocol.data_received(whole[:-5])  # the head only: the client waits for 100 Continue
        await settle()
        assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        protocol.data_received(whole[-5:])
        await settle()
        return transport.writes

    writes = asyncio.run(run())
    assert len(writes) == 2 and responses(writes[1]) == [(200, b"[12345]")]


def test_pipelined_requests_are_answered_in_order() -> None:
    async def run() -> list[bytes]:
        protocol, transport = connect(ServerState())
        protocol.data_received(request(b"1") + request(b"22") + request(b"333"))
        for _ in range(5):
            await settle()
        return transport.writes

    writes = asyncio.run(run())
    assert responses(b"".join(writes)) == [(200, b"[1]"), (200, b"[22]"), (200, b"[333]")]
    assert len(writes) == 3


def test_the_scope_says_whether_the_connection_is_the_only_one() -> None:
    async def run() -> None:
        state = ServerState()
        first, _ = connect(state)
        first.data_received(request())
        await settle()
        second, _ = connect(state)
        second.data_received(request())
        await settle()

    seen.clear()
    asyncio.run(run())
    assert seen == [True, False]  # alone; then a second connection is open beside it


def test_close_sends_a_held_head_and_other_writes_pass() -> None:
    transport = Transport()
    wrapped = OneWrite(transport)
    wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    assert transport.writes == []
    wrapped.close()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"] and transport.closed
    wrapped.write(b"raw")
    assert transport.writes[-1] == b"raw" and wrapped.is_closing()


def test_the_server_uses_the_protocol() -> None:
    from mlship.serving.server import _uvicorn_options
    from mlship.serving.settings import Settings

    assert protocol_class() is Protocol
    assert _uvicorn_options(Settings(), "warning")["http"] is Protocol
