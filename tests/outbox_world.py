"""A webhook receiver and a fake SMS gateway on loopback, for the outbox's tests and benchmark.

:class:`Receiver` is a small asyncio HTTP/1.1 server (keep-alive, ``Content-Length`` bodies) on a
thread of its own: it records every request (path, headers, raw body) and answers ``status`` (a
gateway's ``{"Code": "OK"}`` body with ``gateway=True``), after ``delay`` seconds if set. Run as
a script (``python tests/outbox_world.py PORT``) it serves in a process of its own and prints
how many it received when stopped (the benchmark's receiver).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import Counter
from typing import Any

import msgspec


class Received(msgspec.Struct, frozen=True):
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(
        self, *, status: int = 200, delay: float = 0.0, gateway: bool = False, port: int = 0
    ) -> None:
        self.status = status
        self.delay = delay
        self.gateway = gateway
        self.received: list[Received] = []
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> Counter[str]:
        """How often each delivery id arrived."""
        return Counter(r.headers.get("x-linli-delivery") or r.json().get("OutId") for r in
                       list(self.received))  # fmt: skip

    def __enter__(self) -> Receiver:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        self._server.close()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append(Received(path, headers, body))
                if self.delay:
                    await asyncio.sleep(self.delay)
                answer = b'{"Code":"OK","Message":"OK"}' if self.gateway else b"{}"
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                    b"\r\n%s" % (self.status, len(answer), answer)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


if __name__ == "__main__":
    with Receiver(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0) as receiver:
        print(receiver.port, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    print(len(receiver.received), flush=True)
    sys.exit(0)
