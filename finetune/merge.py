"""Load a trained adapter for use, and merge it into its base for a standalone model.

Both load the base **unquantized**, also for QLoRA adapters: merging LoRA deltas into 4-bit weights would
re-quantize them (lossy), so the merged model is the full-precision base plus the adapter, and scoring uses
the same pairing so the merged model and the scored model agree. The loading is ``datagen.lm``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen import lm


def load_base(path: str, dtype: Any = None, device: str = "cpu") -> Any:
    """A fresh, unquantized copy of the base model in eval mode (never the cached ``lm.load_causal_lm`` one),
    on ``device``; noted in the running command's record of models used."""
    where = lm.resolve_device(device)
    model = lm.load_model(path, dtype or "float32", what="base model", device=where)
    if where != "cpu":
        model.to(where)
    model.eval()
    lm.usage.note(path, where, str(model.dtype).removeprefix("torch."))
    return model


def load_tuned(base_path: str, adapter_dir: str | Path, dtype: Any = None, device: str = "cpu") -> Any:
    """Base + adapter (not merged) in eval mode."""
    from finetune.convert import quiet_renames

    with quiet_renames():
        return lm.load_adapter(load_base(base_path, dtype, device), adapter_dir)


def merge_adapter(base_path: str, adapter_dir: str | Path, out_dir: str | Path, dtype: Any = None) -> Path:
    """Write base + adapter merged into plain weights, with the tokenizer, as a from_pretrained folder."""
    out = Path(out_dir)
    merged = load_tuned(base_path, adapter_dir, dtype).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    lm.load_tokenizer(str(adapter_dir)).save_pretrained(out)
    return out
