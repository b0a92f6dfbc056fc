"""What chat teachers wrap around the text they were asked for, recognised so that the parsers can take it off.

A completion model continues the prompt; a chat model answers it: a preamble ("Sure! Here are some more
tasks:"), markdown (bold labels, headers, bullets instead of numbers, separators), a sign-off ("Let me know if
you need more!") or a comment on its own work ("These tasks cover ..."). The parsers (``parsing.py``) ask these
questions only where such text can be told from content: before the first structural marker, after the last
item, and on marker lines. Whatever they take off is reported as a ``Stripped`` piece with a stable kind, so
that the record can keep it.

The patterns are deliberately narrow: a sign-off must address the requester *and* talk about the reply
("... if you need more examples", "I hope these help"), so that an email an instance asked for may still end
with "Let me know if you have questions about the invoice."
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

PREAMBLE = "preamble"  # "Sure! Here are some more tasks:" before the first item
SIGN_OFF = "sign_off"  # "Let me know if you need more!" after the last item
COMMENTARY = "commentary"  # "These tasks cover ...", "This version adds ..." after the last item
HEADING = "heading"  # "## More tasks", "**Examples**", a restated prompt line ending with ':'
MARKDOWN = "markdown"  # bold, a bold title before a task, separators: the line as it was
RESTATED_LABEL = "restated_label"  # "Task 9:" / "Task: <the instruction>" repeated from the prompt
RUN_ON = "run_on"  # the reply ran on into the next few-shot item ("Task: ...", "Example 6")
TRAILING_TEXT = "trailing_text"  # an unnumbered paragraph after a numbered list


@dataclass(frozen=True)
class Stripped:
    """A piece of a reply that is not part of what was asked for, with why it was taken off."""

    kind: str
    text: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


_APOS = "['’]"
_INTERJ = (
    r"(?:sure(?:\s+thing)?|certainly|of\s+course|absolutely|okay|ok|alright|all\s+right|great|gladly|"
    r"no\s+problem|definitely|happy\s+to\s+help|you\s+got\s+it|here\s+you\s+go)"
)
_INTRO = (
    rf"(?:here(?:{_APOS}s|\s+is|\s+are)|below\s+(?:is|are)|the\s+following\s+(?:is|are)|"
    rf"i(?:{_APOS}ve|\s+have)\s+(?:come\s+up\s+with|generated|created|written|prepared|added|listed)|"
    rf"i(?:{_APOS}ll|\s+will)\s+(?:continue|add|provide|generate|create|write|come\s+up)|"
    r"let\s+me\s+(?:continue|add|provide|generate|create|write|come\s+up)|continuing\s+(?:the|from|with)|"
    r"as\s+requested)"
)
_ABOUT_REPLY = (
    r"\b(?:tasks?|examples?|instructions?|prompts?|ideas|list|more|additional|versions?|rewrites?|answer|"
    r"response|inputs?|outputs?|labels?|instances?)\b"
)
_PURE_INTERJ = re.compile(rf"(?:{_INTERJ}[\s!.,]*)+", re.I)
_INTERJ_START = re.compile(rf"{_INTERJ}\s*[!.,]", re.I)
_INTRO_START = re.compile(rf"(?:{_INTERJ}\s*[!.,]*\s*)?{_INTRO}\b", re.I)
_MORE_LABEL = re.compile(
    rf"(?:some\s+)?(?:more|additional|new|further|extra|other)\s+{_ABOUT_REPLY}[^.!?]*", re.I
)

_ADDRESS = re.compile(
    rf"(?:please\s+)?(?:let\s+me\s+know|feel\s+free|if\s+you(?:{_APOS}d|\s+would|\s+need|\s+want|\s+have)|"
    rf"would\s+you\s+like|do\s+you\s+(?:want|need)|is\s+there\s+anything|"
    rf"(?:i{_APOS}m\s+|i\s+am\s+)?(?:happy|glad)\s+to\s+help)\b",
    re.I,
)
_OBJECT = re.compile(
    r"\b(?:more|additional|another|other|further|different|else|examples?|tasks?|instructions?|prompts?|"
    r"clarif\w*|adjust\w*|modif\w*|changes|tweaks?|versions?|rewrites?)\b",
    re.I,
)
_HOPE = re.compile(
    r"(?:i\s+)?hope\s+(?:this|these|that|it|they)\s+(?:\w+\s+){0,2}(?:helps?|helpful|useful|works?|answers?)\b",
    re.I,
)
_CLOSER = re.compile(
    rf"(?:enjoy|good\s+luck|cheers|have\s+fun|happy\s+\w+ing|(?:i{_APOS}m\s+)?(?:happy|glad)\s+to\s+help)"
    r"(?:\s+\w+)?\s*[!.]*",
    re.I,
)
_COMMENTARY = re.compile(
    r"(?:(?:these|the\s+above|all\s+of\s+these|each\s+of\s+these|the)\s+(?:tasks?|examples?|instructions?|"
    r"prompts?|list|version|rewrite|rewritten|revised)\b|the\s+(?:new|revised|rewritten)\s+(?:prompt|version)\b|"
    r"notes?\s*[:\-]|(?:explanation|changes|rationale)\s*:|"
    r"i\s+(?:added|have\s+added|made|included|kept|introduced|focused|tried)\b|"
    r"in\s+this\s+(?:version|rewrite|prompt)\b|"
    r"this\s+(?:adds|introduces|makes|keeps|version|rewrite|revised|rewritten|new\s+version)\b)",
    re.I,
)
_EXAMPLES_COMMENT = re.compile(
    r"(?:these|the\s+above|all\s+of\s+these|each\s+of\s+these)\s+(?:examples?|instances?|inputs?|outputs?|"
    r"pairs?)\b",
    re.I,
)

_BOLD = re.compile(r"(?<![\w*])\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*(?![\w*])")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_RULE = re.compile(r"^\s*(?:(?:[-*_]\s*){3,}|```\s*\w*\s*)$")
_DEBRIS = re.compile(r"[*#_>•+\-\s]+")
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"'”’)]*\s+")


def is_preamble(line: str) -> bool:
    """An opening a chat model puts before what was asked for: "Sure!", "Here are some more tasks:", ..."""
    text = unbold(line).strip().strip("*_#").strip()
    if not text:
        return False
    if _PURE_INTERJ.fullmatch(text):
        return True
    if _INTRO_START.match(text) and (text.endswith(":") or re.search(_ABOUT_REPLY, text, re.I)):
        return True
    if _INTERJ_START.match(text) and text.endswith(":"):
        return True
    return bool(_MORE_LABEL.fullmatch(text.rstrip(":")) and len(text.split()) <= 8)


def is_answer_preamble(line: str) -> bool:
    """The opening of a chat answer: an interjection alone, or one followed by an introduction ("Certainly!
    Here's a detailed explanation:"). Stricter than ``is_preamble``: "Here are three uses of baking soda:" and
    "Sure! I'd love to come." are the answer itself."""
    text = unbold(line).strip()
    if _PURE_INTERJ.fullmatch(text):
        return True
    m = _INTERJ_START.match(text)
    return bool(m and (_INTRO_START.match(text[m.end() :].strip()) or text.endswith(":")))


def is_sign_off(text: str) -> bool:
    """A closing that addresses the requester about the reply ("Let me know if you need more examples!",
    "I hope these help.", "Happy writing!")."""
    text = unbold(text).strip()
    if _CLOSER.fullmatch(text) or _HOPE.match(text):
        return True
    return bool(_ADDRESS.match(text) and _OBJECT.search(text))


def is_commentary(text: str) -> bool:
    """A comment on the reply itself after the last item ("These tasks cover ...", "This version adds ...")."""
    return bool(_COMMENTARY.match(unbold(text).strip()))


def is_examples_comment(text: str) -> bool:
    """A comment on a list of examples ("These examples show ..."), after the last one."""
    return bool(_EXAMPLES_COMMENT.match(unbold(text).strip()))


def unbold(text: str) -> str:
    """Take off markdown bold (``**x**``) where it wraps words; ``x**2`` and ``__init__`` are left alone."""
    return _BOLD.sub(r"\1", text)


def heading_stripped(line: str) -> tuple[str, bool]:
    """(the line without a leading markdown header marker, whether it had one)."""
    out = _HEADING.sub("", line, count=1)
    return out, out != line


def is_rule(line: str) -> bool:
    """A markdown separator (``---``, ``***``) or a bare code fence line."""
    return bool(_RULE.match(line))


def is_debris(line: str) -> bool:
    """A line of markdown marks and nothing else ("**", "###"): what is left when a stop string cuts
    "**Example 6**" or "### 16." short. Code braces do not count."""
    return bool(_DEBRIS.fullmatch(line.strip())) if line.strip() else False


def split_sign_off(text: str, test: Callable[[str], bool] = is_sign_off) -> tuple[str, str]:
    """(text, sign-off): whole trailing sentences glued to the end of ``text`` that ``test`` recognises."""
    body = text.rstrip()
    cut = len(body)
    for m in reversed(list(_SENTENCE_END.finditer(body))):
        start = m.end()
        if start >= cut:
            continue
        if not test(body[start:cut].strip()):
            break
        cut = start
    return body[:cut].rstrip(), body[cut:].strip()
