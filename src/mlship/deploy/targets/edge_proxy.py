"""mlship's edge proxy for swarm services on engines without the routing mesh (standalone, stdlib only).

Its source is handed to `python3 -c` in a container beside the service, so it imports nothing from
mlship. It resolves `tasks.<service>` (DNS round robin) for every connection and retries another
task when a connection is refused, or closed before one byte of answer came back - which is what
happens to a task that is being stopped in a rolling update. A request is therefore replayed only
when no task answered it.
"""

import asyncio
import os
import random
import socket

UPSTREAM = os.environ.get("MLSHIP_EDGE_UPSTREAM", "127.0.0.1:8080")
LISTEN_PORT = int(os.environ.get("MLSHIP_EDGE_PORT", "8000"))
PATIENCE = float(os.environ.get("MLSHIP_EDGE_PATIENCE", "15"))
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


async def _tasks():
    host, port = UPSTREAM.rsplit(":", 1)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except OSError:
        return []
    addresses = list({info[4][:2] for info in infos})
    random.shuffle(addresses)
    return addresses


async def _connect():
    for address in await _tasks():
        try:
            return await asyncio.wait_for(asyncio.open_connection(*address), 2)
        except (OSError, asyncio.TimeoutError):
            continue
    return None


async def _pipe(reader, writer, record=None):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if record is not None and not record[1]:
                record[0].extend(data)
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        pass


async def _handle(client_reader, client_writer):
    # record = [bytes sent upstream so far, answered?]: replayable until the first answer byte.
    record = [bytearray(), False]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    try:
        first = await client_reader.read(65536)
        if not first:
            return
        record[0].extend(first)
        while loop.time() < deadline:
            upstream = await _connect()
            if upstream is None:
                await asyncio.sleep(0.2)
                continue
            up_reader, up_writer = upstream
            up_writer.write(bytes(record[0]))
            forward = asyncio.ensure_future(_pipe(client_reader, up_writer, record))
            try:
                answer = await up_reader.read(65536)
            except OSError:
                answer = b""
            if not answer:
                forward.cancel()
                up_writer.close()
                continue
            record[1] = True
            client_writer.write(answer)
            await _pipe(up_reader, client_writer)
            forward.cancel()
            up_writer.close()
            return
        client_writer.write(UNAVAILABLE)
    except (OSError, RuntimeError):
        pass
    finally:
        client_writer.close()


async def _main():
    server = await asyncio.start_server(_handle, "0.0.0.0", LISTEN_PORT, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main())
