"""The one HTTP client for talking to a running model service (the contract's target, replay's scorer).

httpx underneath; every call has a timeout, and a service that cannot be reached is one UnreachableError
naming the URL, whichever way the connection failed.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

from mlship.errors import UnreachableError

log = logging.getLogger("mlship.http")


@dataclass(frozen=True)
class Reply:
    status: int
    text: str

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.text)


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    body: bytes | None = None,
    json_body: Any = None,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request; any HTTP status is a Reply (the caller judges it), no answer is UnreachableError."""
    import httpx

    headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body, default=str).encode()
    if body is not None:
        headers["content-type"] = "application/json"
    log.debug("%s %s", method, url)
    try:
        response = _client().request(method, url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:  # refused, reset, timed out, a malformed answer
        raise UnreachableError(f"cannot reach {url} ({_reason(exc)})", hint=hint) from None
    return Reply(response.status_code, response.text)


@functools.cache
def _client() -> Any:
    """One pooled client for the process: connections are kept alive between calls (a latency check
    measures the service, not a TCP and TLS set-up per request), and its TLS context is made once."""
    import socket

    import httpx

    # Headers and body go out as two writes: without TCP_NODELAY the second waits for the server's
    # delayed ACK (40 ms on Linux) on a kept-alive connection.
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    return httpx.Client(follow_redirects=False, transport=httpx.HTTPTransport(socket_options=nodelay))


def is_ready(url: str, *, timeout: float = 2.0) -> bool:
    """Whether `{url}/readyz` answers 200 now."""
    try:
        return request("GET", f"{url.rstrip('/')}/readyz", timeout=timeout).status == 200
    except UnreachableError:
        return False


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
