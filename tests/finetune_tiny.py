"""A tiny causal LM and a ChatML tokenizer built offline, for the fine-tuning tests (seconds on a CPU).

The tokenizer is a byte-level BPE trained with ``tokenizers`` on a few sentences, with the ChatML special
tokens and a ChatML chat template (no default system prompt); the model is a 2-layer Llama from a config.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "answer",
    "question",
    "explain",
    "list",
    "name",
    "give",
    "write",
    "short",
    "capital",
    "of",
    "france",
    "is",
    "paris",
    "two",
    "plus",
    "two",
    "equals",
    "four",
    "colour",
    "sky",
    "blue",
    "grass",
    "green",
    "water",
    "wet",
    "fire",
    "hot",
    "translate",
    "hello",
    "bonjour",
    "summarise",
    "sentence",
    "word",
    "number",
    "one",
    "three",
    "five",
    "seven",
    "nine",
    "even",
    "odd",
    "yes",
    "no",
]


def corpus() -> list[str]:
    lines = [" ".join(WORDS[i : i + 7]) for i in range(0, len(WORDS), 3)]
    return lines * 3 + [w.capitalize() + "." for w in WORDS]


def make_tokenizer(directory: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(directory)
    return directory


def make_tiny_model(directory: Path, hidden: int = 64, seed: int = 0) -> Path:
    """Save a random 2-layer Llama with the tiny tokenizer to ``directory`` (a from_pretrained folder)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    make_tokenizer(directory)
    tok = AutoTokenizer.from_pretrained(directory)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


QA = [
    ("What is the capital of France?", "", "The capital of France is Paris."),
    ("Two plus two equals what?", "", "Two plus two equals four."),
    ("Name the colour of the sky.", "", "The sky is blue."),
    ("Name the colour of grass.", "", "Grass is green."),
    ("Is water wet?", "", "Yes, water is wet."),
    ("Is fire hot?", "", "Yes, fire is hot."),
    ("Translate to French.", "hello", "bonjour"),
    ("Is seven even or odd?", "", "Seven is odd."),
    ("Give one even number.", "", "Two is even."),
    ("Summarise the sentence.", "the quick brown fox jumps over the lazy dog", "A fox jumps over a dog."),
]


def seed_dataset(store, name: str = "tiny", splits: tuple[int, int, int] = (6, 2, 2)) -> int:
    """A dataset version (name@1) over the QA records, split train/validation/test by the given counts."""
    import hashlib

    from datagen.store.models import APPROVED, Dataset, DatasetItem, Record, Run

    n = sum(splits)
    names = ["train"] * splits[0] + ["validation"] * splits[1] + ["test"] * splits[2]
    with store.session() as s:
        run = Run(kind="import", config={})
        s.add(run)
        s.flush()
        recs = []
        for i in range(n):
            ins, inp, out = QA[i % len(QA)]
            h = hashlib.sha256(f"{name}{i}{ins}".encode()).hexdigest()
            recs.append(
                Record(
                    uid=h,
                    run_id=run.id,
                    method="import",
                    instruction=ins,
                    input=inp,
                    output=out,
                    status=APPROVED,
                    content_hash=h,
                )
            )
        s.add_all(recs)
        ds = Dataset(name=name, version=1, run_id=run.id, counts={"total": n})
        s.add(ds)
        s.flush()
        s.add_all(
            DatasetItem(dataset_id=ds.id, record_id=r.id, split=sp) for r, sp in zip(recs, names, strict=True)
        )
        return ds.id
