"""A loopback HTTP server speaking the OpenAI chat-completions and Anthropic messages wire formats.

The real SDKs talk to it through ``base_url``. It answers ``reply to: <last user message>`` and can be
scripted: ``api.enqueue("429:0.2", "500", "slow:5", "malformed", "401")`` makes the next requests (in
arrival order) fail that way; ``rpm=`` enforces a rate limit (token bucket, answering 429 with retry-after).
``responder(last user message) -> text`` (or ``(text, finish_reason)``, e.g. ``"length"`` for a reply cut by
the length limit) replaces the echo (a scripted teacher). ``chat_share=0.4`` answers as a chat model would
(``tests/chat_teacher.py``): that share of the replies, chosen deterministically per request, comes with
preambles, markdown, sign-offs, run-ons, truncation; the teacher is ``api.responder``.
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
        responder: Callable[[str], Any] | None = None,
        chat_share: float | None = None,
    ) -> None:
        self.rpm = rpm
        if responder is None and chat_share is not None:
            from tests.chat_teacher import ChatTeacher

            responder = ChatTeacher(share=chat_share)
        self.responder: Callable[[str], Any] = responder or (lambda user: f"reply to: {user}")
        self.burst = burst
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.script: deque[str] = deque()
        self.requests = 0  # every HTTP request that reached the server
        self.rate_limited = 0
        self.served: Counter[str] = Counter()  # last user message -> successful answers
        self.bodies: list[dict[str, Any]] = []
        self.keys: list[str] = []  # the API key each request carried (Authorization bearer or x-api-key)
        # Batch APIs (OpenAI Batch, Anthropic Message Batches): answered at once, ended after `batch_polls` polls.
        self.batch_polls = 1
        self.batch_errors: set[str] = set()  # user messages whose request errors inside a batch
        self.batch_fails = False  # OpenAI batches fail as a whole (status "failed", nothing run)
        self.batches: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
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

    # -- batch APIs -----------------------------------------------------------------------------------------

    def _batch_answer(self, body: dict[str, Any], anthropic: bool) -> dict[str, Any] | None:
        """The response body for one request of a batch (None: it errors)."""
        messages = body.get("messages", [])
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        if user in self.batch_errors:
            return None
        text, finish = _reply(self.responder(user))
        pt = sum(len(str(m.get("content", "")).split()) for m in messages) + len(
            str(body.get("system", "")).split()
        )
        with self.lock:
            self.served[user] += 1
            self.bodies.append(body)
        return json.loads((_anthropic if anthropic else _openai)(body, text, pt, len(text.split()), finish))

    def _new_batch(self, anthropic: bool, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        with self.lock:
            batch_id = f"{'msgbatch' if anthropic else 'batch'}_{len(self.batches) + 1}"
        out = {cid: self._batch_answer(body, anthropic) for cid, body in items}
        batch = {"id": batch_id, "anthropic": anthropic, "out": out, "polls": self.batch_polls}
        self.batches[batch_id] = batch
        return self._batch_object(batch, poll=False)

    def _batch_object(self, batch: dict[str, Any], poll: bool = True) -> dict[str, Any]:
        if poll:
            batch["polls"] -= 1
        ended = batch["polls"] <= 0
        ok = sum(v is not None for v in batch["out"].values())
        failed = len(batch["out"]) - ok
        if batch["anthropic"]:
            counts = {"processing": 0 if ended else ok + failed, "succeeded": ok if ended else 0,
                      "errored": failed if ended else 0, "canceled": 0, "expired": 0}  # fmt: skip
            return {"id": batch["id"], "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                    "request_counts": counts, "created_at": "2026-11-30T00:00:00Z", "expires_at": "2026-12-01T00:00:00Z",
                    "results_url": f"{self.url}/v1/messages/batches/{batch['id']}/results" if ended else None}  # fmt: skip
        if self.batch_fails:
            return {"id": batch["id"], "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
                    "completion_window": "24h", "created_at": 0, "status": "failed",
                    "errors": {"object": "list", "data": [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached"}]},
                    "request_counts": {"total": ok + failed, "completed": 0, "failed": 0}}  # fmt: skip
        obj = {"id": batch["id"], "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
               "completion_window": "24h", "created_at": int(time.time()), "status": "completed" if ended else "in_progress",
               "request_counts": {"total": ok + failed, "completed": ok if ended else 0, "failed": failed if ended else 0}}  # fmt: skip
        if ended:
            self.files[f"{batch['id']}-out"] = self._openai_lines(batch, errors=False)
            self.files[f"{batch['id']}-err"] = self._openai_lines(batch, errors=True)
            obj["output_file_id"] = f"{batch['id']}-out" if ok else None
            obj["error_file_id"] = f"{batch['id']}-err" if failed else None
        return obj

    @staticmethod
    def _openai_lines(batch: dict[str, Any], errors: bool) -> bytes:
        lines = []
        for cid, body in batch["out"].items():
            if (body is None) != errors:
                continue
            response = (
                {"status_code": 200, "body": body}
                if body
                else {"status_code": 400, "body": {"error": {"message": "scripted batch failure"}}}
            )
            lines.append(
                json.dumps({"id": f"req_{cid[:8]}", "custom_id": cid, "response": response, "error": None})
            )
        return "".join(line + "\n" for line in lines).encode()

    @staticmethod
    def _anthropic_lines(batch: dict[str, Any]) -> bytes:
        lines = []
        for cid, body in batch["out"].items():
            result = {"type": "succeeded", "message": body} if body else {
                "type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "scripted"}}}  # fmt: skip
            lines.append(json.dumps({"custom_id": cid, "result": result}))
        return "".join(line + "\n" for line in lines).encode()

    def _batch_post(self, path: str, raw: bytes, content_type: str) -> tuple[int, bytes]:
        if path.endswith("/files"):  # multipart upload of the requests file
            boundary = content_type.split("boundary=")[-1].encode()
            part = next(p for p in raw.split(b"--" + boundary) if b'name="file"' in p)
            data = part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
            return 200, json.dumps({"id": file_id, "object": "file", "bytes": len(data), "created_at": 0,
                                     "filename": "requests.jsonl", "purpose": "batch", "status": "processed"}).encode()  # fmt: skip
        body = json.loads(raw or b"{}")
        if path.endswith("/messages/batches"):
            items = [(r["custom_id"], r["params"]) for r in body["requests"]]
            return 200, json.dumps(self._new_batch(True, items)).encode()
        lines = [
            json.loads(ln) for ln in self.files[body["input_file_id"]].decode().splitlines() if ln.strip()
        ]
        return 200, json.dumps(
            self._new_batch(False, [(ln["custom_id"], ln["body"]) for ln in lines])
        ).encode()

    def _batch_get(self, path: str) -> tuple[int, bytes]:
        parts = path.rstrip("/").split("/")
        if path.endswith("/content"):
            return 200, self.files[parts[-2]]
        if path.endswith("/results"):
            return 200, self._anthropic_lines(self.batches[parts[-2]])
        batch = self.batches.get(parts[-1])
        return (
            (200, json.dumps(self._batch_object(batch)).encode())
            if batch
            else (404, _error("not_found", path))
        )

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
        text, finish = _reply(self.responder(user))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + len(
            str(body.get("system", "")).split()
        )
        completion_tokens = len(text.split())
        with self.lock:
            self.served[user] += 1
            self.bodies.append(body)
            self.ok_times.append(time.monotonic())
        if path.endswith("/messages"):
            return 200, {}, _anthropic(body, text, prompt_tokens, completion_tokens, finish)
        return 200, {}, _openai(body, text, prompt_tokens, completion_tokens, finish)


def _reply(got: Any) -> tuple[str, str]:
    """A responder's answer as (text, finish reason)."""
    return (got, "stop") if isinstance(got, str) else (str(got[0]), str(got[1]))


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _openai(body: dict[str, Any], text: str, pt: int, ct: int, finish: str = "stop") -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "?"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
            ],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }
    ).encode()


def _anthropic(body: dict[str, Any], text: str, pt: int, ct: int, finish: str = "stop") -> bytes:
    return json.dumps(
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "?"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if finish == "length" else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": pt, "output_tokens": ct},
        }
    ).encode()


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            auth = self.headers.get("authorization") or ""
            with api.lock:
                api.keys.append(self.headers.get("x-api-key") or auth.removeprefix("Bearer "))
            if self.path.endswith(("/files", "/batches")):
                status, payload = api._batch_post(self.path, raw, self.headers.get("content-type") or "")
                headers: dict[str, str] = {}
            elif not self.path.endswith(("/chat/completions", "/messages")):
                status, headers, payload = 404, {}, _error("not_found", self.path)
            else:
                status, headers, payload = api._answer(self.path, json.loads(raw or b"{}"))
            self._reply(status, headers, payload)

        def do_GET(self) -> None:
            status, payload = api._batch_get(self.path.split("?")[0])
            self._reply(status, {}, payload)

        def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
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
