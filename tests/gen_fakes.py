"""A scripted teacher for generation unit tests: a Provider at the boundary, replying by prompt kind.

``reply(prompt) -> text`` or ``(text, finish_reason)``; every prompt is kept in ``history``. Only tests use it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datagen.providers.base import Provider, Request, Result

Reply = Callable[[str], "str | tuple[str, str]"]


class ScriptedProvider(Provider):
    name = "scripted"
    free = True
    max_concurrency = 1

    def __init__(self, reply: Reply, model: str = "scripted-1") -> None:
        super().__init__(model)
        self.reply = reply
        self.history: list[str] = []
        self._lock = threading.Lock()

    def complete(self, requests: list[Request]) -> list[Result]:
        out = []
        for req in requests:
            prompt = req.messages[-1][1]
            with self._lock:
                self.history.append(prompt)
            got: Any = self.reply(prompt)
            text, finish = (got, "stop") if isinstance(got, str) else got
            out.append(Result(text, self.model, len(prompt) // 4, len(text) // 4, finish))
        return out


def write_seeds(path: Path, tasks: list[tuple[str, bool]]) -> Path:
    with path.open("w") as f:
        for k, (instruction, clf) in enumerate(tasks):
            row = {
                "id": f"seed_task_{k}",
                "name": f"task_{k}",
                "instruction": instruction,
                "instances": [{"input": "", "output": f"output {k}"}],
                "is_classification": clf,
            }
            f.write(json.dumps(row) + "\n")
    return path
