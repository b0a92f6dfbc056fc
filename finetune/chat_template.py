"""A ChatML chat template with ``{% generation %}`` markers, so that TRL's ``assistant_only_loss=True`` trains on the
assistant's turns only.

SmolLM2-135M-Instruct (the default base model) ships a ChatML template without these markers, and TRL refuses
``assistant_only_loss`` with it. ``chatml_template(default_system)`` renders exactly the text of that template (the
same default system prompt when a conversation has none) and marks each assistant message's content and its
``<|im_end|>`` as generated, so the end-of-turn token is trained too (the newline after it is not: the model stops
at ``<|im_end|>``). ``training_template(tokenizer)`` returns the marked template that renders like the tokenizer's
own, checked on probe conversations, or None when the tokenizer's template is not this ChatML (training then masks
the prompt of prompt/completion rows instead, with the same effect on single-turn data).
"""

from __future__ import annotations

import json
import re
from typing import Any

SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")
DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system\n(.*?)<\|im_end\|>\n<\|im_start\|>user\n", re.S)

_TEMPLATE = (
    "{%- set default_system = DEFAULT -%}"
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' and default_system %}"
    "{{ '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

PROBES: tuple[list[dict[str, str]], ...] = (
    [{"role": "user", "content": "Name a colour."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
    [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue.\n\nOr green."},
        {"role": "user", "content": "Another?"},
        {"role": "assistant", "content": "Red."},
    ],
)


def chatml_template(default_system: str | None = SMOLLM2_SYSTEM) -> str:
    """ChatML with generation markers; ``default_system`` opens a conversation that has no system message."""
    return _TEMPLATE.replace("DEFAULT", json.dumps(default_system or ""))


def has_generation_markers(template: Any) -> bool:
    return isinstance(template, str) and bool(MARKER.search(template))


def training_template(tokenizer: Any) -> str | None:
    """A chat template with generation markers that renders as ``tokenizer``'s own: its own when it has markers,
    else the marked ChatML with the default system prompt its template adds (if any); None when none matches."""
    own = tokenizer.chat_template
    if not isinstance(own, str):
        return None
    if has_generation_markers(own):
        return own
    opening = tokenizer.apply_chat_template(PROBES[0], tokenize=False)
    found = DEFAULT_SYSTEM.match(opening)
    marked = chatml_template(found.group(1) if found else None)
    for conversation in PROBES:
        for prompt in (False, True):
            theirs = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=prompt)
            ours = tokenizer.apply_chat_template(
                conversation, chat_template=marked, tokenize=False, add_generation_prompt=prompt
            )
            if theirs != ours:
                return None
    return marked
