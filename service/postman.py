"""A small HTTP/1.1 client for the dispatcher's POSTs: keep-alive connections per origin on asyncio
streams (TLS for https), a timeout per request, nothing else (no redirects, no cookies, no
proxies). Why not httpx: measured on this machine, an ``httpx.AsyncClient`` POST to a loopback
receiver cost 2.6 ms of CPU; this one costs a tenth of that, which is what lets one dispatcher
deliver 10,000 webhooks in seconds (docs/performance.md, "Outbox").
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024  # what is read of an answer; a longer one ends the connection


class PostError(Exception):
    """The request could not be made or its answer not read (the message says how)."""


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Postman:
    def __init__(self, *, timeout: float = 5.0, per_origin: int = 64) -> None:
        self.timeout = timeout
        self.per_origin = per_origin
        self.idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def __aenter__(self) -> Postman:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for connections in self.idle.values():
            for _, writer in connections:
                writer.close()
        self.idle.clear()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST ``body``; the answer's status and (at most 1 MiB of) body."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PostError(f"not an http(s) URL: {url[:100]}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        head = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for attempt in (0, 1):
            reused = bool(self.idle.get(origin))
            try:
                async with asyncio.timeout(self.timeout):
                    conn = await self._connect(origin)
                    try:
                        status, answer, keep = await self._exchange(conn, request)
                    except BaseException:
                        conn[1].close()
                        raise
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if reused and attempt == 0:  # the server closed an idle connection: once more
                    continue
                raise PostError(f"{type(exc).__name__}: {exc}") from exc
            except TimeoutError as exc:
                raise PostError(f"timed out after {self.timeout:g} s") from exc
            except (OSError, ValueError, asyncio.LimitOverrunError) as exc:
                raise PostError(f"{type(exc).__name__}: {exc}") from exc
            if keep and len(self.idle.setdefault(origin, [])) < self.per_origin:
                self.idle[origin].append(conn)
            else:
                conn[1].close()
            return status, answer
        raise PostError("unreachable")  # pragma: no cover

    async def _connect(self, origin: tuple[str, str, int]) -> Connection:
        idle = self.idle.get(origin)
        while idle:
            reader, writer = idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            self._tls = self._tls or ssl.create_default_context()
            tls = self._tls
        return await asyncio.open_connection(host, port, ssl=tls, limit=MAX_HEAD)

    async def _exchange(self, conn: Connection, request: bytes) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(request)
        await writer.drain()
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            status = int(rest[:3])
            if status >= 200 or status == 101:
                break  # 1xx (100 Continue) come before the answer
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = await _chunked(reader)
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if length > MAX_BODY:
                return status, b"", False
            body = await reader.readexactly(length)
        else:  # the answer ends with the connection
            body = await reader.read(MAX_BODY)
            keep = False
        return status, body, keep


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        chunk = await reader.readexactly(size + 2)
        if len(body) < MAX_BODY:
            body += chunk[:-2]
