"""A real local HTTP receiver for webhook tests (stdlib server in a thread)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    path: str


@dataclass
class Plan:
    """Statuses to answer with, in order; the last one repeats."""

    statuses: list[int] = field(default_factory=lambda: [200])
    retry_after: str | None = None
    delay_seconds: float = 0.0


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.plan = Plan()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing arrived
                    return
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.time(),
                            self.path,
                        )
                    )
                    statuses = receiver.plan.statuses
                    status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                    retry_after = receiver.plan.retry_after
                    delay = receiver.plan.delay_seconds
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                if retry_after is not None and status in (429, 503):
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks/koji"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[Received]:
        """What arrived, minus the verification request sent when adding."""
        with self._lock:
            return [r for r in self.received if b'"webhook.verification"' not in r.body]

    def wait_for(self, count: int, timeout: float = 120.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.events())} of {count} deliveries arrived")
            time.sleep(0.02)
        return self.events()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
