"""The record formats ``datagen import`` reads: one function per format turns a decoded JSON object into a row
(``method``, ``instruction``, ``input``, ``output``, ``is_classification``, ``meta``, and ``messages`` for a
conversation) or raises ``BadRecord``
saying what is wrong with it.
"""

from __future__ import annotations

from typing import Any

from datagen.conversation import (
    CHATML_ROLES,
    SHAREGPT_ROLES,
    BadConversation,
    check_turns,
    to_fields,
    user_content,
)


class BadRecord(Exception):
    """A problem with one line (becomes an error or, with skip_invalid, a skipped line)."""


def _str(obj: dict[str, Any], key: str, required: bool) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadRecord(f"missing field '{key}'")
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"field '{key}' must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise BadRecord(f"field '{key}' is empty")
    return value


def _self_instruct(obj: dict[str, Any]) -> dict[str, Any]:
    instruction = _str(obj, "instruction", True)
    instances = obj.get("instances")
    if not isinstance(instances, list) or not instances:
        raise BadRecord("field 'instances' must be a non-empty list of {input, output}")
    clean = []
    for k, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise BadRecord(f"instances[{k}] must be an object")
        try:
            clean.append({"input": _str(inst, "input", False), "output": _str(inst, "output", True)})
        except BadRecord as e:
            raise BadRecord(f"instances[{k}]: {e}") from None
    is_cls = obj.get("is_classification", False)
    if not isinstance(is_cls, bool):
        raise BadRecord(f"field 'is_classification' must be true or false, got {is_cls!r}")
    for key in ("id", "name"):
        if key in obj and not isinstance(obj[key], str | int):
            raise BadRecord(f"field '{key}' must be a string")
    meta = {"seed_id": obj.get("id"), "name": obj.get("name"), "instances": clean}
    return {
        "method": "seed",
        "instruction": instruction,
        "input": clean[0]["input"],
        "output": clean[0]["output"],
        "is_classification": is_cls,
        "meta": meta,
    }


_PLAIN_KEYS = frozenset(("instruction", "input", "output"))


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    instruction, input, output = obj.get("instruction"), obj.get("input", ""), obj.get("output", "")
    if not (type(instruction) is str and type(input) is str and type(output) is str and instruction.strip()):
        # Not the common case: check each field with a message that says what is wrong.
        instruction, input, output = (
            _str(obj, "instruction", True),
            _str(obj, "input", False),
            _str(obj, "output", False),
        )
    meta = {}
    if len(obj) > ("instruction" in obj) + ("input" in obj) + ("output" in obj):
        rest = {k: v for k, v in obj.items() if k not in _PLAIN_KEYS}
        if rest.get("history") or rest.get("system"):
            return _with_history(rest, instruction, input, output)
        rest = {k: v for k, v in rest.items() if k not in _HISTORY_KEYS or v}  # LLaMA-Factory's empty columns
        meta = {"extra": rest} if rest else {}
    return {
        "method": "import",
        "instruction": instruction,
        "input": input,
        "output": output,
        "is_classification": None,
        "meta": meta,
    }


_HISTORY_KEYS = ("system", "history")


def _with_history(rest: dict[str, Any], instruction: str, input: str, output: str) -> dict[str, Any]:
    """LLaMA-Factory's Alpaca conversation: ``system``, ``history`` (earlier ``[user, assistant]`` pairs), then
    instruction/input/output as the last exchange."""
    system, history = rest.pop("system", None) or "", rest.pop("history", None) or []
    if not isinstance(system, str):
        raise BadRecord(f"field 'system' must be a string, got {type(system).__name__}")
    if not isinstance(history, list):
        raise BadRecord(
            f"field 'history' must be a list of [user, assistant] pairs, got {type(history).__name__}"
        )
    turns = [{"role": "system", "content": system}] if system else []
    for k, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise BadRecord(f"history[{k}] must be a [user, assistant] pair of strings")
        for role, text in zip(("user", "assistant"), pair, strict=True):
            if not text.strip():
                raise BadRecord(f"history[{k}]: the {role} turn is empty")
            turns.append({"role": role, "content": text})
    if not output.strip():
        raise BadRecord(
            "field 'output' is empty (a conversation with a history ends with the assistant's answer)"
        )
    turns += [
        {"role": "user", "content": user_content(instruction, input)},
        {"role": "assistant", "content": output},
    ]
    return {"method": "import", **to_fields(turns), "is_classification": None,
            "meta": {"extra": rest} if rest else {}}  # fmt: skip


def _conversation(
    obj: dict[str, Any], field: str, role_key: str, content_key: str, roles: Any
) -> dict[str, Any]:
    try:
        turns = check_turns(obj.get(field), field, role_key, content_key, roles)
    except BadConversation as e:
        raise BadRecord(str(e)) from None
    fields = to_fields(turns)
    return {"method": "import", **fields, "is_classification": None, "meta": {}}


def _chatml(obj: dict[str, Any]) -> dict[str, Any]:
    return _conversation(obj, "messages", "role", "content", CHATML_ROLES)


def _sharegpt(obj: dict[str, Any]) -> dict[str, Any]:
    return _conversation(obj, "conversations", "from", "value", SHAREGPT_ROLES)


PARSERS = {
    "self-instruct": _self_instruct,
    "jsonl": _plain,
    "alpaca": _plain,
    "chatml": _chatml,
    "sharegpt": _sharegpt,
}


def detect(obj: dict[str, Any]) -> str:
    if "instances" in obj:
        return "self-instruct"
    if "messages" in obj:
        return "chatml"
    if "conversations" in obj:
        return "sharegpt"
    return "jsonl"
