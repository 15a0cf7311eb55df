"""The HTTP/1.1 protocol a worker serves with: uvicorn's httptools protocol, with two additions.

- **One write per answer.** uvicorn writes a response's head when the app sends
  `http.response.start` and its body when the app sends `http.response.body`: two `send` calls
  and two TCP segments for every answer, and a client that wakes up twice to read it. Here the head
  waits for the first piece of the body (the runtime sends both at once) and both go out in one
  write. An interim response (`100 Continue`) and a close are never held back.
- **How many connections are open**, for the batch queue (`ModelRuntime.predict`): a request on
  the only open connection cannot be joined by another one, so it is scored at once rather than
  after the queue's turns of the event loop. The live set of connections goes into the request's
  scope under `extensions[CONNECTIONS]`.

All of the HTTP itself -- parsing, keep-alive, pipelining, limits, timeouts -- stays uvicorn's.
Without httptools (or with a uvicorn whose protocol has changed shape), `protocol_class` returns
None and the server runs uvicorn's own protocol: only the two additions are lost.
"""

from __future__ import annotations

import inspect
from typing import Any

CONNECTIONS = "mlship.connections"


class OneWrite:
    """A transport whose response head is written together with what follows it."""

    __slots__ = ("_transport", "_head")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(b"".join((head, data)))  # any bytes-like body, memoryview too
        elif data[:9] == b"HTTP/1.1 " and data[9:10] != b"1":  # a final response's head, not 1xx
            self._head = data
        else:
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...: the transport's own
        return getattr(self._transport, name)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

    HTTPTOOLS = True
except ImportError:  # no httptools: uvicorn's h11 protocol, without the two additions
    HTTPTOOLS = False


def _has_parameter(function: Any, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


if HTTPTOOLS:

    class Protocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, each request's cycle writing through `OneWrite` and its
        scope naming the open connections (module level: --workers pickles it for each worker)."""

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle = getattr(self, "cycle", None)
            if cycle is None or getattr(cycle, "scope", None) is not self.scope:
                return  # an upgrade, or a protocol that changed: uvicorn's own behaviour
            cycle.transport = OneWrite(cycle.transport)
            self.scope.setdefault("extensions", {})[CONNECTIONS] = self.connections


def protocol_class() -> type | None:
    """The protocol to serve with; None (uvicorn's own) without httptools or when uvicorn's
    protocol no longer has the shape the additions rely on."""
    if not HTTPTOOLS or not _has_parameter(RequestResponseCycle.__init__, "transport"):
        return None
    return Protocol if hasattr(HttpToolsProtocol, "on_headers_complete") else None
