"""Fine-tuning on a CUDA GPU: QLoRA (4-bit NF4 base) vs plain bf16 LoRA, same model, data and settings.

Both methods run through the product path (``finetune.trainer.train``: TRL SFTTrainer + PEFT), each in its
own subprocess so peak memory is per method; the only difference is the 4-bit quantization of the base
(QLoRA also gets paged AdamW, as the trainer does on CUDA). Prints one JSON object: tokens/s (non-padding
input tokens / train runtime), seconds per step, peak GPU memory allocated and reserved, and the ratios.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_train_gpu.py --model /path/to/Qwen2.5-0.5B-Instruct [--steps 20]

The model (>= 0.5B parameters for the comparison to mean anything) is a local path or a cached hub id.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_train import seed_store


def worker(args: argparse.Namespace) -> None:
    import torch

    from datagen.store import open_store
    from datagen.store.models import TrainRun
    from finetune.config import TrainConfig
    from finetune.trainer import train

    torch.cuda.reset_peak_memory_stats()
    store = open_store(args.db)
    cfg = TrainConfig(
        dataset="bench",
        base_model=args.model,
        method=args.method,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        effective_batch_size=args.batch_size,
        max_length=args.max_length,
        precision="bf16",
        output_root=args.out,
        target_modules=args.target_modules,
    )
    tr_id = train(store, cfg)
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        m = dict(tr.metrics)
    keep = ("tokens_seen", "train_runtime_s", "tokens_per_second", "global_step", "optim", "grad_norm_min")
    out = {k: m[k] for k in keep}
    out["s_per_step"] = round(m["train_runtime_s"] / max(1, m["global_step"]), 3)
    out["peak_gpu_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    out["peak_gpu_reserved_mb"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    out["trainable_params"], out["total_params"] = m["trainable_params"], m["total_params"]
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="local path or cached hub id of a >= 0.5B causal LM")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--target-modules", default="attention", choices=["attention", "all-linear"])
    ap.add_argument("--worker", dest="method")
    ap.add_argument("--db")
    ap.add_argument("--out")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit(
            "bench_train_gpu.py needs a CUDA GPU (torch.cuda.is_available() is False); use bench_train.py"
        )
    if args.method:
        worker(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-gpu-"))
    db = str(tmp / "bench.db")
    seed_store(db, args.examples)
    results: dict[str, Any] = {}
    for method in ("qlora", "lora"):
        cmd = [sys.executable, __file__, "--worker", method, "--db", db, "--out", str(tmp / "out")]
        cmd += ["--model", args.model, "--steps", str(args.steps), "--batch-size", str(args.batch_size)]
        cmd += ["--max-length", str(args.max_length), "--target-modules", args.target_modules]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            sys.exit(f"{method} failed:\n{r.stderr[-4000:]}")
        results[method] = json.loads(r.stdout.strip().splitlines()[-1])
    q, lo = results["qlora"], results["lora"]
    print(
        json.dumps(
            {
                "model": args.model,
                "gpu": torch.cuda.get_device_name(0),
                "steps": args.steps,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "target_modules": args.target_modules,
                "precision": "bf16",
                **results,
                "qlora_over_lora": {
                    "tokens_per_second": round(q["tokens_per_second"] / lo["tokens_per_second"], 2),
                    "peak_gpu_allocated": round(q["peak_gpu_allocated_mb"] / lo["peak_gpu_allocated_mb"], 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
