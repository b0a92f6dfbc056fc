"""What the filters read of a multi-turn conversation: every user turn as the prompt, every turn as the text, every
answer for the answer rules and perplexity, the last answer with the turns before it for the adherence judge."""

from __future__ import annotations

import math
from pathlib import Path

from filters.base import RecordView
from filters.dedup import field_text
from filters.heuristics import HeuristicsFilter

TURNS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name the colour of the sky."},
    {"role": "assistant", "content": "The sky is blue."},
    {"role": "user", "content": "Name the colour of grass."},
    {"role": "assistant", "content": "Grass is green."},
]


def view(turns: list[dict[str, str]] = TURNS) -> RecordView:
    return RecordView(7, turns[1]["content"], "", turns[-1]["content"], "import", {}, turns)


def test_prompt_text_answers_and_final_exchange_of_a_conversation() -> None:
    r = view()
    assert r.prompt() == "Name the colour of the sky.\n\nName the colour of grass."
    assert r.text() == "\n\n".join(t["content"] for t in TURNS)
    assert r.answers() == ["The sky is blue.", "Grass is green."]
    last = r.final_exchange()
    assert (last.instruction, last.input, last.output) == (
        "System: Be brief.\n\nUser: Name the colour of the sky.\n\nAssistant: The sky is blue.\n\n"
        "User: Name the colour of grass.",
        "",
        "Grass is green.",
    )
    single = RecordView(8, "Hi?", "", "Hello.", "import", {}, TURNS[:3])
    assert single.final_exchange() is single  # one exchange: judged as it is
    assert field_text(r, "prompt") == r.prompt() and field_text(r, "instruction") == TURNS[1]["content"]


def test_the_answer_rules_run_on_every_assistant_turn() -> None:
    colon = [*TURNS[:2], {"role": "assistant", "content": "Here are the colours:"}, *TURNS[3:]]
    f = HeuristicsFilter()
    assert f.score([view(colon)])[0].reason == "output_ends_with_colon"  # a middle answer, not the last one
    assert f.score([view()])[0].reason is None


def test_perplexity_scores_each_answer_given_every_turn_before_it(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from datagen import lm
    from filters.perplexity import encode_record, pooled
    from tests.finetune_tiny import make_tokenizer

    tok = AutoTokenizer.from_pretrained(make_tokenizer(tmp_path / "tok"))
    seqs = encode_record(tok, view(), "answer", 512)
    assert len(seqs) == 2
    for (ids, start, truncated), k in zip(seqs, (2, 4), strict=True):
        assert ids[:start] == lm.chat_ids(tok, TURNS[:k]) and not truncated
        assert tok.decode(ids[start:]) == TURNS[k]["content"]
    assert len(encode_record(tok, view(), "text", 512)) == 1  # text mode: the whole conversation at once
    assert math.isclose(pooled([(10.0, 3), (1000.0, 1)]), math.exp((3 * math.log(10) + math.log(1000)) / 4))
