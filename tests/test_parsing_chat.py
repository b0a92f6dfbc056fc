"""Parsing replies written the way chat models write them: exact outcomes for each shape (table-driven).

Each case gives a reply, what must be parsed from it, and the kinds of the pieces taken off (in order).
"""

from __future__ import annotations

import pytest

from datagen.generation.chatter import Stripped
from datagen.generation.parsing import (
    parse_answer,
    parse_instances_input_first,
    parse_instances_output_first,
    parse_rewrite,
    parse_task_list,
)

A, B = "Write a poem about the sea.", "Summarize the text for kids."

TASK_LISTS = [
    # (shape, reply, finish_reason, [(task, truncated)], stripped kinds)
    ("completion", f" {A}\n10. {B}", "stop", [(A, False), (B, False)], []),
    ("preamble", f"Sure! Here are some more tasks:\n\n9. {A}\n10. {B}", "stop", [(A, False), (B, False)],
     ["preamble"]),
    ("preamble_no_colon", f"Here are 6 more tasks for you.\n9. {A}", "stop", [(A, False)], ["preamble"]),
    ("restated_prompt", f"Come up with a series of tasks:\n9. {A}", "stop", [(A, False)], ["heading"]),
    ("bold_items", f"9. **{A}**\n10. **{B}**", "stop", [(A, False), (B, False)], ["markdown", "markdown"]),
    ("bold_markers", f"**9.** {A}\n**Task 10:** {B}", "stop", [(A, False), (B, False)], ["markdown", "markdown"]),
    ("bold_title", f"9. **Poetry**: {A}\n10. **Summary:** {B}", "stop", [(A, False), (B, False)],
     ["markdown", "markdown"]),
    ("bold_marker_and_title", f"**Task 9:** **Poetry**: {A}\n**10.** **Summary**: {B}", "stop",
     [(A, False), (B, False)], ["markdown"] * 4),
    ("bold_title_line", f"9. **Poetry**\n{A}", "stop", [(A, False)], ["markdown"]),
    ("headers", f"## More tasks\n### 9. {A}\n### 10. {B}", "stop", [(A, False), (B, False)], ["heading"]),
    ("bullets", f"- {A}\n* {B}", "stop", [(A, False), (B, False)], []),
    ("sub_bullets_join", "9. Plan a trip with these limits:\n- a budget of 500 dollars\n- two days", "stop",
     [("Plan a trip with these limits: a budget of 500 dollars two days", False)], []),
    ("task_label", f"Task 9: {A}\nTask 10: {B}", "stop", [(A, False), (B, False)], []),
    ("restated_task_label", f"9. Task: {A}", "stop", [(A, False)], ["restated_label"]),
    ("sign_off_paragraph", f"9. {A}\n10. {B}\n\nLet me know if you need more tasks!", "stop",
     [(A, False), (B, False)], ["sign_off"]),
    ("sign_off_line", f"9. {A}\nI hope these help!", "stop", [(A, False)], ["sign_off"]),
    ("glued_sign_off", f"9. {A}\n10. {B} Let me know if you'd like more!", "stop", [(A, False), (B, False)],
     ["sign_off"]),
    ("commentary", f"9. {A}\n\nThese tasks cover a range of skills.", "stop", [(A, False)], ["commentary"]),
    ("trailing_text", f"9. {A}\n\nEnjoy the list and good night", "stop", [(A, False)], ["trailing_text"]),
    ("fences", f"```\n9. {A}\n```", "stop", [(A, False)], ["markdown", "markdown"]),
    ("stop_cut_debris", f"9. {A}\n### ", "stop", [(A, False)], ["markdown"]),  # a stop string cut "### 16."
    ("truncated", f"9. {A}\n10. Summarize the text for", "length", [(A, False), ("Summarize the text for", True)],
     []),
    # content that looks like chat but is a task
    ("decimal", "9. Convert 3.5 kg to pounds.", "stop", [("Convert 3.5 kg to pounds.", False)], []),
    ("let_me_know_task", "9. Let me know whether the given number is prime.", "stop",
     [("Let me know whether the given number is prime.", False)], []),
    ("colon_task", f"Translate the following sentence into Spanish:\n10. {B}", "stop",
     [("Translate the following sentence into Spanish:", False), (B, False)], []),
    ("only_chatter", "Sure! Here are some more tasks:\n\nLet me know if you need more!", "stop", [],
     ["preamble", "sign_off"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "reply", "finish", "tasks", "kinds"), TASK_LISTS, ids=[c[0] for c in TASK_LISTS]
)
def test_task_list(shape: str, reply: str, finish: str, tasks: list, kinds: list[str]) -> None:
    stripped: list[Stripped] = []
    got = parse_task_list(reply, finish, stripped)
    assert [(c.text, c.truncated) for c in got] == tasks
    assert sorted(s.kind for s in stripped) == sorted(kinds)


INPUT_FIRST = [
    # (shape, reply, finish_reason, pairs, truncated dropped, stripped kinds)
    ("issue_repro_for_example",
     "Example 1\nInput: x\nOutput: Mean is 12. For example, a family saves.\nExample 2\nInput: y\nOutput: z", "stop",
     [("x", "Mean is 12. For example, a family saves."), ("y", "z")], 0, []),
    ("for_example_line", "Example 1\nInput: x\nOutput: Mean is 12.\nFor example, a family saves.", "stop",
     [("x", "Mean is 12.\nFor example, a family saves.")], 0, []),
    ("example_word_in_text", "Example 1\nInput: x\nOutput: y\nExample sentences are short.\nexample 2 is below",
     "stop", [("x", "y\nExample sentences are short.\nexample 2 is below")], 0, []),
    ("preamble", "Sure! Here are some examples:\n\nExample 1\nInput: a\nOutput: b", "stop", [("a", "b")], 0,
     ["preamble"]),
    ("restated_task", "Task: Sort the words.\nExample 1\nInput: b, a\nOutput: a, b", "stop", [("b, a", "a, b")], 0,
     ["restated_label"]),
    ("bold_markers", "**Example 1**\n**Input:** a\n**Output:** b\n**Example 2:**\nInput**:** c\nOutput: d", "stop",
     [("a", "b"), ("c", "d")], 0, []),
    ("headers_bullets_rules", "### Example 1\n- **Input:** a\n- **Output:** b\n---\n### Example 2\nOutput: d", "stop",
     [("a", "b"), ("", "d")], 0, ["markdown"]),
    ("run_on_task", "Example 1\nInput: a\nOutput: b\n\nTask: Write a poem.\nExample 1\nOutput: Roses.", "stop",
     [("a", "b")], 0, ["run_on"]),
    ("run_on_example_6", "\n".join(f"Example {i}\nInput: i{i}\nOutput: o{i}." for i in range(1, 8)), "stop",
     [(f"i{i}", f"o{i}.") for i in range(1, 6)], 0, ["run_on"]),
    ("numbering_restarts", "Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOutput: d\nExample 1\nInput: e",
     "stop", [("a", "b"), ("c", "d")], 0, ["run_on"]),
    ("sign_offs", "Example 1\nInput: a\nOutput: b. Let me know if you need more examples!\n\nI hope these help!",
     "stop", [("a", "b.")], 0, ["sign_off", "sign_off"]),
    ("examples_comment", "Example 1\nInput: a\nOutput: b.\n\nThese examples show the range of the task.", "stop",
     [("a", "b.")], 0, ["sign_off"]),
    ("email_output_keeps_its_close",
     "Output: Dear Sam,\nThe invoice is attached.\n\nLet me know if you have questions about the invoice.", "stop",
     [("", "Dear Sam,\nThe invoice is attached.\n\nLet me know if you have questions about the invoice.")], 0, []),
    ("inline_markers", "Example 1: Input: a Output: b\nExample 2: Input: c Output: d", "stop",
     [("a", "b"), ("c", "d")], 0, []),
    # the stop string "Example 6" cut "**Example 6**": the "**" left is not part of the output
    ("stop_cut_debris", "Example 5\nInput: a\nOutput: b.\n**", "stop", [("a", "b.")], 0, ["markdown"]),
    ("code_braces_kept", "Output: def f():\n    return {\n    }", "stop", [("", "def f():\n    return {\n    }")], 0,
     []),
    ("truncated", "Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOutput: half a sen", "length", [("a", "b")],
     1, []),
    ("no_structure", "Sure! I can help with that.", "stop", [], 0, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "reply", "finish", "pairs", "cut", "kinds"), INPUT_FIRST, ids=[c[0] for c in INPUT_FIRST]
)
def test_instances_input_first(
    shape: str, reply: str, finish: str, pairs: list, cut: int, kinds: list
) -> None:
    stripped: list[Stripped] = []
    assert parse_instances_input_first(reply, finish, 5, stripped) == (pairs, cut)
    assert sorted(s.kind for s in stripped) == sorted(kinds)


OUTPUT_FIRST = [
    ("plain", "Class label: Positive\nInput: I love it.\nClass label: Negative\nInput: I hate it.", "stop",
     [("I love it.", "Positive"), ("I hate it.", "Negative")], 0, []),
    ("preamble_bold", "Sure! Here are inputs for each class label:\n\n**Class label:** **Positive**\n**Input:** Yay.",
     "stop", [("Yay.", "Positive")], 0, ["preamble"]),
    ("run_on_and_sign_off", "Class label: Yes\nInput: a.\n\nTask: Next one.\nClass label: No\n\nI hope this helps!",
     "stop", [("a.", "Yes")], 0, ["run_on"]),
    ("sign_off", "Class label: Yes\nInput: a.\n\nLet me know if you need more examples!", "stop", [("a.", "Yes")], 0,
     ["sign_off"]),
    ("truncated", "Class label: Yes\nInput: a.\nClass label: No\nInput: b is cu", "length", [("a.", "Yes")], 1, []),
    ("no_label", "Yes", "stop", [], 0, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "reply", "finish", "pairs", "cut", "kinds"), OUTPUT_FIRST, ids=[c[0] for c in OUTPUT_FIRST]
)
def test_instances_output_first(
    shape: str, reply: str, finish: str, pairs: list, cut: int, kinds: list
) -> None:
    stripped: list[Stripped] = []
    assert parse_instances_output_first(reply, finish, stripped) == (pairs, cut)
    assert sorted(s.kind for s in stripped) == sorted(kinds)


R = "Explain how rainbows form, naming three physical principles."
REWRITES = [
    ("plain", R, R, []),
    ("preamble", f"Sure! Here's a more challenging version:\n\n{R}", R, ["preamble"]),
    ("label_line", f"**Revised prompt:**\n{R}", R, ["heading"]),
    ("inline_label", f"**New instruction:** {R}", R, ["restated_label"]),
    ("header_and_quotes", f"### Evolved Instruction\n“{R}”", R, ["heading", "markdown"]),
    ("bold_phrase", "Explain **exactly three** steps of x**2 growth.", "Explain exactly three steps of x**2 growth.",
     ["markdown"]),
    ("commentary", f"{R}\n\nThis version adds a constraint.", R, ["commentary"]),
    ("glued_sign_off", f"{R} Let me know if you'd like further adjustments!", R, ["sign_off"]),
    ("template_copy_left_for_elimination", f"#Rewritten Prompt#:\n{R}", f"#Rewritten Prompt#:\n{R}", []),
    ("template_preamble_left_for_elimination", f"Here is the rewritten prompt:\n\n{R}",
     f"Here is the rewritten prompt:\n\n{R}", []),
    ("complicated_input_kept", 'Summarize the sales below.\n\n{"q1": 10, "q2": 12}',
     'Summarize the sales below.\n\n{"q1": 10, "q2": 12}', []),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "reply", "text", "kinds"), REWRITES, ids=[c[0] for c in REWRITES])
def test_rewrite(shape: str, reply: str, text: str, kinds: list[str]) -> None:
    stripped: list[Stripped] = []
    assert parse_rewrite(reply, stripped) == text
    assert sorted(s.kind for s in stripped) == sorted(kinds)


P = "Paris is the capital of France. For example, the government sits there."
ANSWERS = [
    ("plain_exact", f"  {P}\n\n\nIt is big.  ", f"{P}\n\n\nIt is big.", []),
    ("preamble", f"Certainly! Here's a detailed answer:\n\n{P}", P, ["preamble"]),
    ("interjection", f"Sure!\n\n{P}", P, ["preamble"]),
    ("label", f"**Answer:**\n{P}", P, ["heading"]),
    ("sign_off", f"{P}\n\nI hope this helps! Let me know if you have any other questions.", P, ["sign_off"]),
    ("glued_sign_off", f"{P} Let me know if you need more help with this!", P, ["sign_off"]),
    ("reply_that_is_the_answer", "Sure! I'd love to come to your party.", "Sure! I'd love to come to your party.", []),
    ("intro_that_is_the_answer", "Here are three uses of baking soda:\n1. Baking\n2. Cleaning",
     "Here are three uses of baking soda:\n1. Baking\n2. Cleaning", []),
    ("markdown_is_content", f"{P}\n\n**Note:** it is big.", f"{P}\n\n**Note:** it is big.", []),
    ("non_english", "光合作用是植物利用阳光的过程。例如，叶子会变绿。", "光合作用是植物利用阳光的过程。例如，叶子会变绿。", []),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "reply", "text", "kinds"), ANSWERS, ids=[c[0] for c in ANSWERS])
def test_answer(shape: str, reply: str, text: str, kinds: list[str]) -> None:
    stripped: list[Stripped] = []
    assert parse_answer(reply, stripped) == text
    assert sorted(s.kind for s in stripped) == sorted(kinds)
