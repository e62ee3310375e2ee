#!/usr/bin/env python3
"""A minimal HTTP/1.1 model server for benchmarking ``mlmon replay`` (used by ``bench_replay.py``).

    python benchmarks/replay_server.py                  # raw asyncio server, ephemeral port
    python benchmarks/replay_server.py --kind aiohttp --port 8000

It answers every POST, whatever the path, with the same small JSON body
(``{"label": "yes", "score": 0.5}``), status 200, and keeps connections alive
(HTTP/1.1 default; ``Connection: close`` and HTTP/1.0 without keep-alive close
after the answer). The request body is read in full and thrown away. There is
no model behind it: it measures what the client costs, not what a model costs.

Two kinds, both single-process and single-threaded (like most Python model
servers):

* ``raw`` (default): an ``asyncio.Protocol`` that parses just enough HTTP/1.1
  (request line and headers up to the blank line, ``Content-Length`` body,
  pipelined requests in one read) and writes a prebuilt response. This is the
  fastest server that the standard library allows, so the client, not the
  server, is what a load generator runs into first as far as possible.
* ``aiohttp``: an ``aiohttp.web`` application with one catch-all POST route
  that reads the body and returns the fixed body; access log off.

The server binds 127.0.0.1 and prints ``PORT <n>`` on stdout once it listens,
then serves until SIGTERM or SIGINT. Standard library only for ``raw``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

BODY = b'{"label": "yes", "score": 0.5}'
_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
         + str(len(BODY)).encode() + b"\r\n")
RESPONSE = _HEAD + b"\r\n" + BODY
RESPONSE_CLOSE = _HEAD + b"Connection: close\r\n\r\n" + BODY
NOT_IMPLEMENTED = (b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
MAX_HEAD = 64 * 1024


class RawHttp(asyncio.Protocol):
    """Just enough HTTP/1.1 for a load test: Content-Length bodies, keep-alive, pipelining."""

    __slots__ = ("transport", "buf")

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        out = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    self._close_with(out, NOT_IMPLEMENTED)
                    return
                break
            head = bytes(buf[:end]).lower()
            if b"\r\ntransfer-encoding:" in head:  # chunked bodies: not needed by the benchmark
                self._close_with(out, NOT_IMPLEMENTED)
                return
            length = 0
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 17)
                length = int(head[i + 17:j if j >= 0 else len(head)])
            total = end + 4 + length
            if len(buf) < total:
                break
            del buf[:total]
            line_end = head.find(b"\r\n")
            request_line = head[:line_end if line_end >= 0 else len(head)]
            close = (b"\r\nconnection: close" in head
                     or (request_line.endswith(b"http/1.0") and b"\r\nconnection: keep-alive" not in head))
            if close:
                self._close_with(out, RESPONSE_CLOSE)
                return
            out.append(RESPONSE)
        if out:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])

    def _close_with(self, out: list, last: bytes) -> None:
        out.append(last)
        self.transport.write(b"".join(out))
        self.transport.close()
        self.buf.clear()


async def serve_raw(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawHttp, host, port, backlog=1024, reuse_address=True)
    await _announce_and_wait(server.sockets[0].getsockname()[1])
    server.close()


async def serve_aiohttp(host: str, port: int) -> None:
    from aiohttp import web

    async def predict(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", predict)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    await _announce_and_wait(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await runner.cleanup()


async def _announce_and_wait(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("raw", "aiohttp"), default="raw")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): an ephemeral port")
    args = parser.parse_args(argv)
    serve = serve_raw if args.kind == "raw" else serve_aiohttp
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
