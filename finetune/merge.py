"""Load a trained adapter for use, and merge it into its base for a standalone model.

Both load the base **unquantized**, also for QLoRA adapters: merging LoRA deltas into 4-bit weights would
re-quantize them (lossy), so the merged model is the full-precision base plus the adapter, and scoring uses
the same pairing so the merged model and the scored model agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_base(path: str, dtype: Any = None) -> Any:
    """A fresh, unquantized copy of the base model in eval mode (never the cached modelhub object)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    model.eval()
    return model


def load_tuned(base_path: str, adapter_dir: str | Path, dtype: Any = None) -> Any:
    """Base + adapter (not merged) in eval mode."""
    from peft import PeftModel

    from finetune.convert import quiet_renames

    with quiet_renames():
        model = PeftModel.from_pretrained(load_base(base_path, dtype), str(adapter_dir))
    model.eval()
    return model


def merge_adapter(base_path: str, adapter_dir: str | Path, out_dir: str | Path, dtype: Any = None) -> Path:
    """Write base + adapter merged into plain weights, with the tokenizer, as a from_pretrained folder."""
    from transformers import AutoTokenizer

    out = Path(out_dir)
    merged = load_tuned(base_path, adapter_dir, dtype).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(out)
    return out
