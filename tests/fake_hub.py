"""A loopback HTTP server implementing the Hugging Face Hub calls ``datagen export --push-to-hub`` makes through
``huggingface_hub``: create a repo (``/api/repos/create``), validate a card's YAML (``/api/validate-yaml``), ask
how each file uploads (``/api/{type}s/{repo}/preupload/{rev}``: every file inline, so no LFS or Xet transfer) and
commit (``/api/{type}s/{repo}/commit/{rev}``, NDJSON with base64 file contents); and the agent registry
huggingface_hub reads once a day (``/api/agent-harnesses``). Every POST must carry ``Authorization: Bearer <token>``. ``repos`` holds what was created and committed; ``unknown`` any other call.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTE = re.compile(r"^/api/(dataset|model|space)s/([^/]+/[^/]+)/(preupload|commit)/([^/?]+)")


@dataclass
class HubRepo:
    repo_type: str
    visibility: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)


class FakeHub:
    def __init__(self, token: str = "hf_loopback_token") -> None:
        self.token = token
        self.repos: dict[str, HubRepo] = {}
        self.validated: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.unknown: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with hub.lock:
                    hub.calls.append(self.path)
                    if (
                        self.path == "/api/agent-harnesses"
                    ):  # huggingface_hub's user-agent registry, once a day
                        self._send(200, {"harnesses": {}, "standardEnvVars": []})
                        return
                    hub.unknown.append(self.path)
                self._send(404, {"error": "Repository not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hub.lock:
                    hub.calls.append(self.path)
                    if self.headers.get("Authorization") != f"Bearer {hub.token}":
                        self._send(401, {"error": "Invalid credentials in Authorization header"})
                        return
                    status, answer = hub.answer(self.path, body)
                self._send(status, answer)

        return Handler

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if path == "/api/repos/create":
            req = json.loads(body)
            repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
            url = f"{self.url}/datasets/{repo_id}"
            if repo_id in self.repos:  # as the Hub answers: 409, with the existing repo's URL
                return 409, {"error": "You already created this dataset repo", "url": url}
            self.repos[repo_id] = HubRepo(req.get("type") or "model", req.get("visibility"))
            return 200, {"url": url}
        if path == "/api/validate-yaml":
            req = json.loads(body)
            self.validated.append(req)
            return self.validate(req["content"])
        route = ROUTE.match(path)
        repo = self.repos.get(route.group(2)) if route else None
        if route is None or repo is None or repo.repo_type != route.group(1):
            self.unknown.append(path)
            return 404, {"error": "Repository not found"}
        if route.group(3) == "preupload":
            files = json.loads(body)["files"]
            return 200, {
                "files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            }
        header, *ops = (json.loads(line) for line in body.splitlines() if line.strip())
        for op in ops:
            if op["key"] != "file" or op["value"]["encoding"] != "base64":
                return 400, {"error": f"unexpected operation {op['key']}"}
            repo.files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
        repo.commits.append(header["value"]["summary"])
        oid = f"{len(repo.commits):040x}"
        return 200, {"commitUrl": f"{self.url}/datasets/{route.group(2)}/commit/{oid}", "commitOid": oid}

    @staticmethod
    def validate(content: str) -> tuple[int, dict[str, Any]]:
        """The card's YAML header must parse into ``DatasetCardData`` with the keys the Hub's viewer reads."""
        from huggingface_hub import DatasetCard

        try:
            data = DatasetCard(content).data.to_dict()
        except Exception as e:  # a malformed header: the Hub answers 400 with its errors
            return 400, {"errors": [{"message": str(e)}]}
        missing = [k for k in ("license", "configs") if k not in data]
        if missing:
            return 400, {"errors": [{"message": f"missing {k}"} for k in missing]}
        return 200, {"warnings": []}
