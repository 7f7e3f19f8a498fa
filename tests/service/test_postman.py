"""The dispatcher's HTTP client (service.postman) against servers on loopback: keep-alive, chunked
and close-delimited answers, a server that hangs, a refused connection, a bad URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from outbox_world import Receiver

from service.postman import PostError, Postman

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _server(serve: Serve) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/x"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))  # fmt: skip
    return await reader.readexactly(length)


async def test_one_connection_carries_many_posts() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                body = await _read_request(reader)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    server, url = await _server(serve)
    async with server, Postman() as postman:
        for n in range(5):
            assert await postman.post(url, b"hello %d" % n, {}) == (200, b"hello %d" % n)
    assert connections == 1


async def test_chunked_and_close_delimited_answers_are_read() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")  # fmt: skip
        await writer.drain()

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.0 201 Created\r\n\r\n{"Code":"OK"}')
        await writer.drain()
        writer.close()

    first, chunked_url = await _server(chunked)
    second, closing_url = await _server(closing)
    async with first, second, Postman() as postman:
        assert await postman.post(chunked_url, b"x", {}) == (500, b"abcde")
        assert await postman.post(closing_url, b"x", {}) == (201, b'{"Code":"OK"}')
        assert await postman.post(closing_url, b"x", {}) == (201, b'{"Code":"OK"}')


async def test_a_hanging_server_a_refused_port_and_a_bad_url_are_errors() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server, url = await _server(hang)
    async with server, Postman(timeout=0.2) as postman:
        with pytest.raises(PostError, match="timed out"):
            await postman.post(url, b"x", {})
        with Receiver() as gone:
            closed = gone.url
        with pytest.raises(PostError, match="ConnectionRefused"):
            await postman.post(closed, b"x", {})
        with pytest.raises(PostError, match="not an http"):
            await postman.post("ftp://example.org/", b"x", {})
