"""Multi-turn conversations: how imported turns are checked, stored and read back.

A record that holds a conversation keeps every turn in ``Record.messages`` (``[{"role", "content"}, ...]``, an
optional system turn first, then user and assistant turns alternating, ending with the assistant) and fills the
single-turn fields from it: ``instruction`` = the first user turn, ``input`` = "", ``output`` = the last assistant
turn. Filters, review, generation and exports that know about turns read ``messages``; the rest see a coherent
opening prompt and final answer. A record with one user turn and no system turn stores no ``messages`` (the three
fields say everything), so it is the same record as its single-turn import.

Light module (no heavy imports): the importer, filters, exports and training all read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from datagen.textnorm import content_hash, join_fields, normalized_sha256

Turn = dict[str, str]

CHATML_ROLES = {"system": "system", "user": "user", "assistant": "assistant"}
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}


class BadConversation(ValueError):
    """What is wrong with a conversation (the importer prefixes file and line)."""


def check_turns(
    items: Any, field: str, role_key: str, content_key: str, roles: Mapping[str, str]
) -> list[Turn]:
    """Validate a list of turns and return them as ``{"role", "content"}`` with roles mapped through ``roles``.

    Rules: a non-empty list of objects; a known role; string content; a system turn only first; user and
    assistant alternate starting with the user; no blank user or assistant turn; the last turn is the
    assistant's (a lone user turn, a prompt without an answer, is the one exception, as for single-turn files).
    """
    if not isinstance(items, list) or not items:
        raise BadConversation(f"field '{field}' must be a non-empty list of {{{role_key}, {content_key}}}")
    turns = []
    for k, m in enumerate(items):
        role = m.get(role_key) if isinstance(m, dict) else None
        content = m.get(content_key) if isinstance(m, dict) else None
        if type(role) is not str or role not in roles or type(content) is not str:
            _bad_turn(m, f"{field}[{k}]", role_key, content_key, roles)
        turns.append({"role": roles[role], "content": content})
    _check_order(turns, field)
    return turns


def _bad_turn(m: Any, where: str, role_key: str, content_key: str, roles: Mapping[str, str]) -> NoReturn:
    """Raise what is wrong with one turn (kept off the common path)."""
    if not isinstance(m, dict):
        raise BadConversation(f"{where} must be an object with '{role_key}' and '{content_key}'")
    role = m.get(role_key)
    if not isinstance(role, str) or role not in roles:
        raise BadConversation(f"{where}: unknown role {role!r} (one of {', '.join(roles)})")
    if content_key not in m:
        raise BadConversation(f"{where}: missing '{content_key}'")
    raise BadConversation(f"{where}: '{content_key}' must be a string, got {type(m[content_key]).__name__}")


def _check_order(turns: list[Turn], field: str) -> None:
    expected = "user"
    for k, t in enumerate(turns):
        role = t["role"]
        if role == "system":
            if k:
                raise BadConversation(f"{field}[{k}]: a system turn is allowed only first")
            continue
        if role != expected:
            article = "an" if expected == "assistant" else "a"
            raise BadConversation(
                f"{field}[{k}]: expected {article} {expected} turn, got {role} (turns must alternate)"
            )
        if not t["content"].strip():
            raise BadConversation(f"{field}[{k}]: the {role} turn is empty")
        expected = "assistant" if role == "user" else "user"
    dialogue = [t for t in turns if t["role"] != "system"]
    if not dialogue:
        raise BadConversation(f"field '{field}' has no user turn")
    if dialogue[-1]["role"] == "user" and len(dialogue) > 1:
        raise BadConversation(
            f"{field}[{len(turns) - 1}]: the conversation ends with a user turn (it must end with the assistant's)"
        )


def to_fields(turns: list[Turn]) -> dict[str, Any]:
    """The record's columns for these turns: first user turn, last assistant turn, and ``messages`` when the
    single-turn fields cannot hold them (a system turn, or more than one exchange), else None."""
    users = [t["content"] for t in turns if t["role"] == "user"]
    answers = [t["content"] for t in turns if t["role"] == "assistant"]
    whole = len(users) > 1 or any(t["role"] == "system" for t in turns)
    return {"instruction": users[0], "input": "", "output": answers[-1] if answers else "",
            "messages": turns if whole else None}  # fmt: skip


def turns_hash(turns: Sequence[Mapping[str, str]]) -> str:
    """sha256 of every turn (role and normalised content), in order: a conversation's content identity."""
    return normalized_sha256("\0".join(f"{t['role']}\0{t['content'].strip()}" for t in turns))


def record_hash(
    instruction: str, input: str, output: str, messages: Sequence[Mapping[str, str]] | None
) -> str:
    """The content hash of a record: all its turns when it holds a conversation, else its three fields."""
    return turns_hash(messages) if messages else content_hash(instruction, input, output)


def user_content(instruction: str, input: str) -> str:
    """The user turn of a single-turn record: the instruction, then the input after a blank line when there is one."""
    return f"{instruction}\n\n{input}" if input.strip() else instruction


def turns_of(
    instruction: str, input: str, output: str, messages: Sequence[Mapping[str, str]] | None
) -> list[Turn]:
    """Every turn of a record: its stored conversation, or user + assistant built from its fields."""
    if messages:
        return [{"role": t["role"], "content": t["content"]} for t in messages]
    return [
        {"role": "user", "content": user_content(instruction, input)},
        {"role": "assistant", "content": output},
    ]


def with_fields(
    messages: Sequence[Mapping[str, str]], instruction: str, input: str, output: str
) -> list[Turn]:
    """A conversation whose first user turn and last assistant turn are replaced (a reviewer's edit of them)."""
    turns = [{"role": t["role"], "content": t["content"]} for t in messages]
    users = [k for k, t in enumerate(turns) if t["role"] == "user"]
    answers = [k for k, t in enumerate(turns) if t["role"] == "assistant"]
    turns[users[0]]["content"] = user_content(instruction, input)
    if answers:
        turns[answers[-1]]["content"] = output
    return turns


def exchanges(messages: Sequence[Mapping[str, str]] | None) -> int:
    """How many user turns a conversation has (1 for a single-turn record)."""
    return sum(t["role"] == "user" for t in messages) if messages else 1


def is_multi_turn(messages: Sequence[Mapping[str, str]] | None) -> bool:
    return exchanges(messages) > 1


def system_of(messages: Sequence[Mapping[str, str]] | None) -> str | None:
    """The conversation's own system turn, if it has one."""
    return messages[0]["content"] if messages and messages[0]["role"] == "system" else None


def prompt_text(instruction: str, input: str, messages: Sequence[Mapping[str, str]] | None) -> str:
    """The prompt side as one text (what dedup and dataset clusters embed): instruction and input, or every user
    turn of a conversation."""
    if messages:
        return join_fields(*(t["content"] for t in messages if t["role"] == "user"))
    return join_fields(instruction, input)


def transcript(turns: Sequence[Mapping[str, str]]) -> str:
    """Turns as one plain text, each headed by its role (what a judge reads as the context of an answer)."""
    return "\n\n".join(f"{t['role'].capitalize()}: {t['content']}" for t in turns)
