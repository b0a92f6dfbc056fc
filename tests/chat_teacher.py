"""A loopback teacher that writes like a chat model, and a check for chat text that reached the data.

``ChatTeacher(share)`` answers every prompt the generators send (task lists, classification questions,
instances, evolving prompts, the equality judge, answers). Its content is clean and known: ``truth`` holds
every task, instance, rewrite and answer it meant. A ``share`` of the replies, chosen per request from a hash
of the prompt (so a replayed request gets the same reply), is then written as chat models write: a preamble,
markdown (bold, headers, bullets instead of numbers, separators, a bold title), a restated ``Task:`` label,
a sign-off or a comment on the reply, a run-on into the next few-shot item, or a reply cut by the length
limit. Outputs contain "For example, ..." and some answers are in Chinese, Russian, Japanese or Greek, in
every reply. ``contamination(...)`` names the chat text found in a record's fields.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.chat_content import LABELS, TOPICS, Content, answer_text, make_task, rewrite_addition

TASK_PREAMBLES = ["Sure! Here are some more tasks:", "Certainly! Here are 6 additional tasks:",
                  "Here are some more tasks for you:", "Of course! Continuing the list:"]  # fmt: skip
INSTANCE_PREAMBLES = ["Sure! Here are some examples for this task:", "Certainly! Here are a few examples:",
                      "Here are some examples:"]  # fmt: skip
LABEL_PREAMBLES = ["Sure! Here are inputs for each class label:", "Certainly! Here are some examples:"]
REWRITE_PREAMBLES = ["Sure! Here's a more challenging version:", "Certainly! Here is an evolved version:",
                     "Here is a more complex version of the instruction:"]  # fmt: skip
ANSWER_PREAMBLES = ["Certainly! Here's a detailed answer:", "Sure!", "Absolutely! Here is an explanation:"]
SIGN_OFFS = ["Let me know if you need more tasks!", "I hope these help! Let me know if you'd like more.",
             "Feel free to ask for more examples!", "Happy writing!"]  # fmt: skip
INSTANCE_SIGN_OFFS = ["I hope these examples help! Let me know if you need more.",
                      "Let me know if you'd like more examples!", "These examples show the range of the task."]  # fmt: skip
REWRITE_SIGN_OFFS = ["Let me know if you'd like further adjustments!",
                     "This version adds a constraint that makes the task harder.",
                     "I added a requirement about the format of the answer."]  # fmt: skip
ANSWER_SIGN_OFFS = ["I hope this helps! Let me know if you have any other questions.",
                    "Let me know if you need more help with this!", "Feel free to ask if you have more questions."]  # fmt: skip
COMMENTARY = ["These tasks cover a range of skills and audiences.", "These tasks should keep a model busy."]


@dataclass
class Truth:
    """Everything the teacher meant to say (content, without the chat wrapping)."""

    tasks: set[str] = field(default_factory=set)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    rewrites: set[str] = field(default_factory=set)
    answers: set[str] = field(default_factory=set)


class ChatTeacher:
    """``teacher(prompt) -> (text, finish_reason)``; deterministic per prompt."""

    def __init__(self, share: float = 0.5, seed: int = 0, max_instances: int = 5) -> None:
        self.share, self.seed, self.max_instances = share, seed, max_instances
        self.truth = Truth()
        self.shapes: Counter[str] = Counter()  # how often each chat shape was written
        self.replies = 0
        self._lock = threading.Lock()

    def __call__(self, prompt: str) -> tuple[str, str]:
        digest = hashlib.sha256(f"{self.seed}\0{prompt}".encode()).hexdigest()
        rng = random.Random(int(digest[:16], 16))
        chat = rng.random() < self.share
        content = Content(rng)
        if "Prompt Rewriter" in prompt or "Prompt Creator" in prompt:
            out = self._rewrite(prompt, rng, content, chat)
        elif "Equal or Not Equal" in prompt:
            out = self._judge(rng, chat)
        elif "Is it classification?" in prompt:
            out = self._is_classification(prompt, rng, chat)
        elif "Come up with a series of tasks" in prompt:
            out = self._tasks(rng, content, chat)
        elif "Come up with examples" in prompt:
            out = self._instances(prompt, rng, content, chat)
        elif "Class label:" in prompt:
            out = self._labels(prompt, rng, content, chat)
        else:
            out = self._answer(prompt, rng, chat)
        with self._lock:
            self.replies += 1
        return out

    def _note(self, *shapes: str) -> None:
        with self._lock:
            self.shapes.update(shapes)

    # -- Self-Instruct ----------------------------------------------------------------------------------

    def _tasks(self, rng: random.Random, content: Content, chat: bool) -> tuple[str, str]:
        tasks = [make_task(rng)[0] for _ in range(rng.randint(4, 7))]
        with self._lock:
            self.truth.tasks.update(tasks)
        if not chat:
            return " " + tasks[0] + "".join(f"\n{10 + i}. {t}" for i, t in enumerate(tasks[1:])), "stop"
        shapes = rng.sample(["preamble", "bold", "bold_title", "header", "bullets", "task_label", "sign_off",
                             "glued_sign_off", "commentary", "restated_prompt", "truncate"], rng.randint(1, 3))  # fmt: skip
        self._note(*(f"tasks:{s}" for s in shapes))
        lines = []
        for i, t in enumerate(tasks):
            n = 9 + i
            if "bold_title" in shapes:
                t = f"**{content.title()}**: {t}"
            elif "bold" in shapes:
                t = f"**{t}**"
            if "glued_sign_off" in shapes and i == len(tasks) - 1:
                t = f"{t} {rng.choice(SIGN_OFFS)}"
            if "bullets" in shapes:
                lines.append(f"- {t}")
            elif "task_label" in shapes:
                lines.append(f"**Task {n}:** {t}" if rng.random() < 0.5 else f"Task {n}: {t}")
            elif "header" in shapes:
                lines.append(f"### {n}. {t}")
            else:
                lines.append(f"{n}. {t}")
        text = "\n".join(lines)
        if "preamble" in shapes:
            text = rng.choice(TASK_PREAMBLES) + "\n\n" + text
        if "restated_prompt" in shapes:
            text = "Come up with a series of tasks:\n" + text
        if "commentary" in shapes:
            text += "\n\n" + rng.choice(COMMENTARY)
        if "sign_off" in shapes:
            text += "\n\n" + rng.choice(SIGN_OFFS)
        if "truncate" in shapes:
            return _cut_inside(text, tasks[-1], rng), "length"
        return text, "stop"

    def _is_classification(self, prompt: str, rng: random.Random, chat: bool) -> str:
        task = re.findall(r"Task: (.*)", prompt)[-1]
        yes = task.startswith(tuple(LABELS))
        if not chat:
            return "Yes" if yes else "No"
        self._note("classify:chatty")
        return rng.choice(
            ["**Yes**", "Yes, it is a classification task."] if yes else ["**No**", "No, it is not."]
        )

    def _instances(self, prompt: str, rng: random.Random, content: Content, chat: bool) -> tuple[str, str]:
        instruction = re.findall(r"Task: (.*)", prompt)[-1].strip()
        kind = make_task_kind(instruction)
        n = rng.randint(2, 4)
        shapes = (
            rng.sample(["preamble", "restated", "bold", "header", "separators", "sign_off", "glued_sign_off",
                        "run_on_task", "run_on_example", "truncate"], rng.randint(1, 3)) if chat else []
        )  # fmt: skip
        self._note(*(f"instances:{s}" for s in shapes))
        if "run_on_example" in shapes:
            n = self.max_instances + 2
        pairs = [content.pair(kind, instruction) for _ in range(n)]
        kept = pairs[: self.max_instances]
        with self._lock:
            self.truth.pairs.update(kept)
        blocks = []
        for i, (inp, out) in enumerate(pairs, 1):
            ex, i_label, o_label = f"Example {i}", "Input:", "Output:"
            if "bold" in shapes:
                ex, i_label, o_label = f"**{ex}**", "**Input:**", "**Output:**"
            elif "header" in shapes:
                ex = f"### {ex}"
            body = (f"{i_label} {inp}\n" if inp else "") + f"{o_label} {out}"
            blocks.append(f"{ex}\n{body}")
        text = ("\n---\n" if "separators" in shapes else "\n").join(blocks)
        if "glued_sign_off" in shapes:
            text += " " + rng.choice(INSTANCE_SIGN_OFFS[:2])
        if "run_on_task" in shapes:
            other, _ = make_task(rng)
            text += f"\n\nTask: {other}\nExample 1\nOutput: {content.sentence()}"
        if "preamble" in shapes:
            text = rng.choice(INSTANCE_PREAMBLES) + "\n\n" + text
        if "restated" in shapes:
            text = f"Task: {instruction}\n" + text
        if "sign_off" in shapes:
            text += "\n\n" + rng.choice(INSTANCE_SIGN_OFFS)
        if "truncate" in shapes and "run_on_task" not in shapes and "run_on_example" not in shapes:
            return _cut_inside(text, pairs[-1][1], rng), "length"
        return text, "stop"

    def _labels(self, prompt: str, rng: random.Random, content: Content, chat: bool) -> tuple[str, str]:
        instruction = re.findall(r"Task: (.*)", prompt)[-1].strip()
        labels = next((v for k, v in LABELS.items() if instruction.startswith(k)), ("Yes", "No"))
        inputs = [content.sentence() for _ in labels]
        with self._lock:
            self.truth.pairs.update(zip(inputs, labels, strict=True))
        shapes = (
            rng.sample(["preamble", "bold", "sign_off", "run_on_task", "truncate"], rng.randint(1, 2))
            if chat
            else []
        )
        self._note(*(f"labels:{s}" for s in shapes))
        lab, inp = ("**Class label:**", "**Input:**") if "bold" in shapes else ("Class label:", "Input:")
        text = "\n".join(f"{lab} {label}\n{inp} {x}" for label, x in zip(labels, inputs, strict=True))
        if "preamble" in shapes:
            text = rng.choice(LABEL_PREAMBLES) + "\n\n" + text
        if "run_on_task" in shapes:
            text += f"\n\nTask: {make_task(rng)[0]}\nClass label: Yes\nInput: {content.sentence()}"
        if "sign_off" in shapes:
            text += "\n\n" + rng.choice(INSTANCE_SIGN_OFFS)
        if "truncate" in shapes and "run_on_task" not in shapes:
            return _cut_inside(text, inputs[-1], rng), "length"
        return text, "stop"

    # -- Evol-Instruct ----------------------------------------------------------------------------------

    def _rewrite(self, prompt: str, rng: random.Random, content: Content, chat: bool) -> tuple[str, str]:
        found = re.findall(r"Given Prompt#:\n(.*?)\n\n#", prompt, re.S)  # the last one: earlier are examples
        given = " ".join((found[-1] if found else "Describe a river.").split())
        new = make_task(rng)[0] if "Prompt Creator" in prompt else f"{given} {rewrite_addition(rng)}"
        with self._lock:
            self.truth.rewrites.add(new)
        if not chat:
            return new, "stop"
        shapes = rng.sample(["preamble", "label", "bold_phrase", "quotes", "sign_off", "glued_sign_off",
                             "template_copy", "truncate"], rng.randint(1, 2))  # fmt: skip
        self._note(*(f"rewrite:{s}" for s in shapes))
        text = new
        if "bold_phrase" in shapes:
            w = text.split()
            k = rng.randrange(1, max(2, len(w) - 2))
            text = " ".join([*w[:k], f"**{w[k]} {w[k + 1]}**", *w[k + 2 :]])
        if "quotes" in shapes:
            text = f"“{text}”"
        if "label" in shapes:
            text = (
                rng.choice(["**Revised prompt:**\n", "**New instruction:** ", "### Evolved Instruction\n"])
                + text
            )
        if "glued_sign_off" in shapes:
            text += " " + REWRITE_SIGN_OFFS[0]
        if "preamble" in shapes:
            text = rng.choice(REWRITE_PREAMBLES) + "\n\n" + text
        if "template_copy" in shapes:
            text = "#Rewritten Prompt#:\n" + text
        if "sign_off" in shapes:
            text += "\n\n" + rng.choice(REWRITE_SIGN_OFFS)
        if "truncate" in shapes:
            return _cut_inside(text, new, rng), "length"
        return text, "stop"

    def _judge(self, rng: random.Random, chat: bool) -> str:
        verdict = "Equal" if rng.random() < 0.1 else "Not Equal"
        if chat:
            self._note("judge:chatty")
            return f"**{verdict}**. The second prompt {'adds nothing' if verdict == 'Equal' else 'adds a requirement'}."
        return verdict

    def _answer(self, prompt: str, rng: random.Random, chat: bool) -> tuple[str, str]:
        topic = next((t for t in TOPICS if t in prompt), "the topic")
        answer = answer_text(rng, topic)
        with self._lock:
            self.truth.answers.add(answer)
        if not chat:
            return answer, "stop"
        shapes = rng.sample(
            ["preamble", "label", "sign_off", "glued_sign_off", "truncate"], rng.randint(1, 2)
        )
        self._note(*(f"answer:{s}" for s in shapes))
        text = answer
        if "glued_sign_off" in shapes:
            text += " " + ANSWER_SIGN_OFFS[1]
        if "label" in shapes:
            text = "**Answer:**\n" + text
        if "preamble" in shapes:
            text = rng.choice(ANSWER_PREAMBLES) + "\n\n" + text
        if "sign_off" in shapes:
            text += "\n\n" + rng.choice(ANSWER_SIGN_OFFS)
        if "truncate" in shapes:
            return _cut_inside(text, answer, rng), "length"
        return text, "stop"


def make_task_kind(instruction: str) -> str:
    """Which family a task of ``make_task`` belongs to, read back from its text."""
    if instruction.startswith(tuple(LABELS)):
        return "clf"
    if instruction.startswith(("Translate",)):
        return "translate"
    return "input" if " the given " in instruction else "noinput"


def _cut_inside(text: str, last: str, rng: random.Random) -> str:
    """``text`` cut by the length limit in the middle of its last piece of content ``last``."""
    at = text.rfind(last)
    words = last.split()
    keep = " ".join(words[: max(1, rng.randint(1, max(1, len(words) - 2)))])
    return text[:at] + keep


# -- what counts as chat text in the data ------------------------------------------------------------------

_PREAMBLE = re.compile(
    r"^(?:sure|certainly|of course|absolutely|here(?:'s| is| are)|below are)\b", re.I | re.M
)
_SIGN_OFF = re.compile(
    r"let me know|i hope (?:this|these)|hope this helps|feel free|happy writing|these (?:tasks|examples) "
    r"(?:cover|show|should)|this version adds|i added a requirement|come up with a series of tasks",
    re.I,
)
_MARKDOWN = re.compile(r"\*\*|^#{1,6}\s|^\s*[-*•]\s|^-{3,}\s*$|[“”]", re.M)
_RUN_ON = re.compile(r"^(?:Task\s*\d*\s*:|Example\s*\d+|Input\s*:|Output\s*:|Class label\s*:)", re.M)
_ENDS_SENTENCE = re.compile(r"[.!?。！？;\"”)]$")


def contamination(
    instruction: str, inp: str, out: str, sentences: tuple[str, ...] = ("input", "output")
) -> list[str]:
    """The chat text in a record: ``preamble``, ``sign_off``, ``markdown``, ``run_on`` (per field), and
    ``split_sentence`` when one of the ``sentences`` fields (an instance's input and output; the input only for
    a class label) does not start and end as a sentence, as every text this teacher writes does."""
    found = []
    for name, text in (("instruction", instruction), ("input", inp), ("output", out)):
        for kind, pattern in (("preamble", _PREAMBLE), ("sign_off", _SIGN_OFF), ("markdown", _MARKDOWN),
                              ("run_on", _RUN_ON)):  # fmt: skip
            if text and pattern.search(text):
                found.append(f"{kind}:{name}")
        starts = bool(text) and (text[0].isupper() or not text[0].isascii())
        if name in sentences and text and not (starts and _ENDS_SENTENCE.search(text.rstrip())):
            found.append(f"split_sentence:{name}")
    return found


def audit(records: list[Any], truth: Truth | None = None) -> dict[str, Any]:
    """Chat text in the records a run wrote. Checked: every ``generated`` record (instruction, input, output)
    and every accepted Self-Instruct instruction (also one left without instances: later prompts show it).
    ``not_as_written``: checked records whose content is not what the teacher meant (``truth``); an Evol
    answer cut by the length limit (``meta["truncated"]``) is not compared."""
    kinds: Counter[str] = Counter()
    checked = contaminated = not_as_written = 0
    examples: list[dict[str, Any]] = []
    for r in records:
        accepted_task = r.method == "self_instruct" and "instance_request" in (r.meta or {})
        if r.status != "generated" and not accepted_task:
            continue
        checked += 1
        data = r.status == "generated"
        if r.method == "self_instruct":
            sentences: tuple[str, ...] = (
                (("input",) if r.is_classification else ("input", "output")) if data else ()
            )
        else:
            sentences = ()
        found = contamination(r.instruction, r.input if data else "", r.output if data else "", sentences)
        if found:
            contaminated += 1
            kinds.update(found)
            if len(examples) < 5:
                examples.append(
                    {"found": found, "instruction": r.instruction, "input": r.input, "output": r.output}
                )
        if truth is not None and data and not _as_written(r, truth):
            not_as_written += 1
    return {"checked": checked, "contaminated": contaminated, "kinds": dict(kinds), "not_as_written": not_as_written,
            "examples": examples}  # fmt: skip


def _as_written(r: Any, truth: Truth) -> bool:
    if r.method == "self_instruct":
        return r.instruction in truth.tasks and (r.input, r.output) in truth.pairs
    return r.instruction in truth.rewrites and (r.output in truth.answers or bool(r.meta.get("truncated")))
