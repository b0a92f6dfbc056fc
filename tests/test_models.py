"""Default models: the shipped SmolLM2 GGUF is really converted, cached and reloaded; MiniLM loads offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen import modelhub


@pytest.mark.slow
def test_smollm2_converts_once_and_reloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli) -> None:
    monkeypatch.setenv("DATAGEN_CACHE", str(tmp_path / "cache"))
    r = run_cli("models", "--json")
    before = {m["name"]: m for m in json.loads(r.stdout)["models"]}
    assert before[modelhub.SMOLLM2]["cached"] is False
    assert before[modelhub.SMOLLM2]["source"].endswith(modelhub.GGUF_NAME)

    path = Path(modelhub.resolve(modelhub.SMOLLM2))
    assert path == tmp_path / "cache" / "models" / "smollm2-135m-instruct-float32"
    assert (path / "model.safetensors").stat().st_size > 400_000_000  # float32 weights
    assert json.loads((path / "datagen-source.json").read_text())["dtype"] == "float32"
    mtime = (path / "model.safetensors").stat().st_mtime
    assert Path(modelhub.resolve(modelhub.SMOLLM2)) == path  # second call reuses the cache
    assert (path / "model.safetensors").stat().st_mtime == mtime

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Say hello."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert json.loads(run_cli("models", "--json").stdout)["models"][0]["cached"] is True


@pytest.mark.slow
def test_minilm_loads_offline_and_embeds() -> None:
    model = modelhub.load_embedder(modelhub.MINILM)
    vecs = model.encode(["a cat sat on the mat", "a kitten sat on the rug", "quarterly tax filing deadline"])
    assert vecs.shape == (3, 384)
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2]


def test_unknown_dtype_is_an_input_error() -> None:
    from datagen import lm
    from datagen.errors import InputError

    with pytest.raises(InputError, match="unknown dtype"):
        lm.torch_dtype("float8")
