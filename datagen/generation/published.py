"""The published sampling of every prompt kind the generation methods send, with where it comes from.

Self-Instruct (Wang et al. 2022, github.com/yizhongw/self-instruct): the calls to the completions API in
``bootstrap_instructions.py`` (task lists), ``identify_clf_or_not.py`` (is it classification?) and
``generate_instances.py`` (instances). Evol-Instruct (Xu et al. 2023, github.com/nlpxucan/WizardLM,
``Evol_Instruct/openai_access.py``): one chat call shape for rewrites and answers. Where this project differs,
the description says so; the config fields of ``SelfInstructConfig`` and ``EvolConfig`` carry these texts.
"""

from __future__ import annotations

from datagen.providers.base import SamplingParams

# A decision answer cut by the length limit is asked once more with this many tokens at least
# (``Teacher.run_decisions``), then marked truncated.
RETRY_MAX_TOKENS = 16

TASKS = (
    "task generation, as in bootstrap_instructions.py: temperature 0.7, top_p 0.5, 1,024 tokens, presence "
    "penalty 2, stops at item 16 (8 tasks shown, so at most 7 new; change the stops with prompt_tasks). "
    "Deviation: the reference also stops at a blank line, which suits a completions model but cuts a chat "
    "teacher's reply that opens with a preamble and a blank line down to the preamble; the parser removes "
    "preambles and run-ons instead. Add '\\n\\n' to the stops for a completions-style teacher"
)
CLASSIFY = (
    "classification identification, as in identify_clf_or_not.py: greedy (the reference's top_p 0 is the same "
    f"under temperature 0), 3 tokens, stops at a newline or 'Task'; an answer cut before a whole Yes/No is asked "
    f"once more with {RETRY_MAX_TOKENS} tokens, then marked truncated (never read as a decision)"
)
INSTANCES = (
    "instance generation, as in generate_instances.py: greedy, presence penalty 1.5, 350 tokens, stops at "
    "'Example 6' (five instances) or 'Task:'. Deviation: the reference gives batches holding a classification "
    "task 300 tokens, only to fit davinci's 2,049-token context; one length here"
)
EVOL_REWRITE = (
    "rewrites, as in WizardLM's openai_access.py: temperature 1, top_p 0.95, 2,048 tokens, no stops, no "
    "penalties. Deviation: the reference's calls also carry the system message 'You are a helpful "
    "assistant.'; none is sent here (the request is the template alone)"
)
EVOL_ANSWER = "answers to evolved instructions: the same call as the rewrites (temperature 1, top_p 0.95)"
EVOL_JUDGE = (
    "the elimination judge (Equal / Not Equal, section 3.3; no published code): greedy, 8 tokens; a reply cut "
    f"before a whole verdict is asked once more with {RETRY_MAX_TOKENS} tokens, then marked truncated"
)


def tasks() -> SamplingParams:
    return SamplingParams(
        temperature=0.7,
        top_p=0.5,
        max_tokens=1024,
        presence_penalty=2.0,
        stop=["\n16", "16.", "16 ."],
    )


def classify() -> SamplingParams:
    return SamplingParams(temperature=0.0, top_p=1.0, max_tokens=3, stop=["\n", "Task"])


def instances() -> SamplingParams:
    return SamplingParams(
        temperature=0.0, top_p=1.0, max_tokens=350, presence_penalty=1.5, stop=["Example 6", "Task:"]
    )


def evol_rewrite() -> SamplingParams:
    return SamplingParams(temperature=1.0, top_p=0.95, max_tokens=2048)


def evol_answer() -> SamplingParams:
    return SamplingParams(temperature=1.0, top_p=0.95, max_tokens=2048)


def evol_judge() -> SamplingParams:
    return SamplingParams(temperature=0.0, top_p=1.0, max_tokens=8)
