"""A real HTTP server speaking OpenAI's streaming chat-completions protocol,
for the interviewer's language-model tests: no network, no model.

`POST /chat/completions` answers with server-sent events, one
`data: {"choices": [{"delta": {"content": ...}}]}` line per token and then
`data: [DONE]`, following a script of replies (the last one repeats). A reply
can hold its stream before a token until the test releases it (a model that
is slow or stalls), or answer with an HTTP error. Every request's JSON body
is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Scripted:
    """One reply: its tokens; `hold_before`: the index of the token before
    which the stream waits for `release` (0: before the first token; None:
    never waits); `status`: an HTTP status other than 200 answers an error."""

    tokens: list[str]
    hold_before: int | None = None
    status: int = 200
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when the stream reaches its hold (the test knows it is holding).
    holding: asyncio.Event = field(default_factory=asyncio.Event)


class ModelServer:
    def __init__(self, *script: Scripted) -> None:
        self.script = list(script) or [Scripted(["Hello?"])]
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aenter__(self) -> ModelServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for reply in self.script:
            reply.release.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    def _next(self) -> Scripted:
        index = min(len(self.requests) - 1, len(self.script) - 1)
        return self.script[index]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            request_line = await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if not request_line.startswith(b"POST /v1/chat/completions "):
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            self.requests.append(json.loads(body))
            self.headers.append(headers)
            reply = self._next()
            if reply.status != 200:
                message = json.dumps({"error": {"message": "model failed"}}).encode()
                writer.write(
                    f"HTTP/1.1 {reply.status} Error\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(message)}\r\nConnection: close\r\n\r\n".encode()
                    + message
                )
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            for index, token in enumerate(reply.tokens):
                if reply.hold_before == index:
                    reply.holding.set()
                    await reply.release.wait()
                chunk = {"choices": [{"index": 0, "delta": {"content": token}}]}
                writer.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await writer.drain()
            if reply.hold_before == len(reply.tokens):
                reply.holding.set()
                await reply.release.wait()
            writer.write(b"data: [DONE]\n\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError):
                writer.close()
