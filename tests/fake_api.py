"""A loopback HTTP server speaking the OpenAI chat-completions and Anthropic messages wire formats.

The real SDKs talk to it through ``base_url``. It answers ``reply to: <last user message>`` and can be
scripted: ``api.enqueue("429:0.2", "500", "slow:5", "malformed", "401")`` makes the next requests (in
arrival order) fail that way; ``rpm=`` enforces a rate limit (token bucket, answering 429 with retry-after).
``responder(last user message) -> text`` replaces the echo (a scripted teacher).
It counts every HTTP request, and how many times each distinct prompt got a successful answer (``served``),
so tests can assert that nothing was sent twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeAPI:
    def __init__(
        self,
        rpm: float | None = None,
        burst: float = 1.0,
        latency_s: float = 0.0,
        responder: Callable[[str], str] | None = None,
    ) -> None:
        self.rpm = rpm
        self.responder = responder or (lambda user: f"reply to: {user}")
        self.burst = burst
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.script: deque[str] = deque()
        self.requests = 0  # every HTTP request that reached the server
        self.rate_limited = 0
        self.served: Counter[str] = Counter()  # last user message -> successful answers
        self.bodies: list[dict[str, Any]] = []
        self.keys: list[str] = []  # the API key each request carried (Authorization bearer or x-api-key)
        self.ok_times: list[float] = []
        self._tokens = burst
        self._refill_at = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control ------------------------------------------------------------------------------------------

    def __enter__(self) -> FakeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def enqueue(self, *actions: str) -> None:
        with self.lock:
            self.script.extend(actions)

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.served.values() if n > 1)

    # -- serving ------------------------------------------------------------------------------------------

    def _next_action(self) -> str:
        with self.lock:
            self.requests += 1
            if self.script:
                return self.script.popleft()
            if self.rpm:
                now = time.monotonic()
                rate = self.rpm / 60.0
                self._tokens = min(self.burst, self._tokens + (now - self._refill_at) * rate)
                self._refill_at = now
                if self._tokens < 1.0:
                    self.rate_limited += 1
                    return f"429:{(1.0 - self._tokens) / rate:.3f}"
                self._tokens -= 1.0
            return "ok"

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        action = self._next_action()
        kind, _, arg = action.partition(":")
        if kind == "429":
            return 429, {"retry-after": arg or "0"}, _error("rate_limit_error", "slow down")
        if kind in ("500", "503", "401", "400"):
            return (
                int(kind),
                {},
                _error("server_error" if kind.startswith("5") else "bad", "scripted failure"),
            )
        if kind == "malformed":
            return 200, {}, b'{"id": "x", "choices": [ {"broken'
        if kind == "slow":
            time.sleep(float(arg or 5))
        elif self.latency_s:
            time.sleep(self.latency_s)
        messages = body.get("messages", [])
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        text = self.responder(user)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + len(
            str(body.get("system", "")).split()
        )
        completion_tokens = len(text.split())
        with self.lock:
            self.served[user] += 1
            self.bodies.append(body)
            self.ok_times.append(time.monotonic())
        if path.endswith("/messages"):
            return 200, {}, _anthropic(body, text, prompt_tokens, completion_tokens)
        return 200, {}, _openai(body, text, prompt_tokens, completion_tokens)


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _openai(body: dict[str, Any], text: str, pt: int, ct: int) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "?"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }
    ).encode()


def _anthropic(body: dict[str, Any], text: str, pt: int, ct: int) -> bytes:
    return json.dumps(
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "?"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": pt, "output_tokens": ct},
        }
    ).encode()


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            auth = self.headers.get("authorization") or ""
            with api.lock:
                api.keys.append(self.headers.get("x-api-key") or auth.removeprefix("Bearer "))
            if not self.path.endswith(("/chat/completions", "/messages")):
                status, headers, payload = 404, {}, _error("not_found", self.path)
            else:
                status, headers, payload = api._answer(self.path, body)
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout); the request still counts as served

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
