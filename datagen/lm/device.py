"""Device and dtype settings of every local model: what ``auto`` means here, and the checks done when read.

Devices: ``auto`` takes CUDA when present (``cuda``, i.e. the current CUDA device), else Apple's MPS, else
the CPU (said once per process through ``logging`` at INFO level); ``cpu``, ``cuda``, ``cuda:N`` and ``mps``
ask for that device and fail with an InputError when it is not there.

Dtypes: a setting names one (``float32``/``fp32``, ``bfloat16``/``bf16``, ``float16``/``fp16``) or ``auto``,
which follows the device the model runs on (``resolve_dtype``):

* CUDA: bfloat16 where the card computes in it (compute capability 8.0 and up: A100, H100, RTX 30xx...),
  else float16 (V100, T4);
* MPS: float16;
* CPU: bfloat16 on CPUs with AVX-512 bf16 instructions (``avx512_bf16`` in /proc/cpuinfo), else float32.

Thresholds calibrated for one dtype (the perplexity filter's, float32) stay tied to it: those settings
default to an explicit dtype, never to ``auto``.

Batch sizes stay settings with CPU-safe defaults; ``batch_for`` multiplies such a default on an accelerator
(a GPU forward of a few sequences leaves the card mostly idle), where a setting asks for it with 0.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

from datagen.errors import InputError

log = logging.getLogger(__name__)

DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
DTYPES = ("float32", "fp32", "bfloat16", "bf16", "float16", "fp16", "auto")
_CANONICAL = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
ACCELERATOR_BATCH_FACTOR = 8
_said: set[str] = set()  # messages logged once per process


def check_device(device: str) -> str:
    """The device setting when it is well formed (no torch needed); an InputError naming the valid forms."""
    if not _DEVICE.fullmatch(device):
        raise InputError(f"unknown device {device!r}: use {DEVICES}")
    return device


def check_dtype(name: str) -> str:
    """The dtype setting when it is known (no torch needed)."""
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}: use float32, bfloat16, float16 or auto")
    return name


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str = "auto") -> str:
    """The torch device a setting means here: ``auto`` picks CUDA, then MPS, then the CPU."""
    import torch

    check_device(device)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        _once("device auto: no CUDA or MPS device found, running on the CPU")
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r}: no CUDA device is available here (use cpu or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise InputError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
    if device == "mps" and not _mps_available():
        raise InputError("device 'mps': no MPS device is available here (use cpu or auto)")
    return device


def _once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.info(message)


def resolve_dtype(name: str, device: str = "cpu") -> str:
    """The concrete dtype (``float32``, ``bfloat16`` or ``float16``) a setting means on a resolved device."""
    check_dtype(name)
    if name != "auto":
        return _CANONICAL.get(name, name)
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "bfloat16" if cpu_has_bf16() else "float32"


def dtype_used(name: str, device: str = "auto") -> str:
    """The concrete dtype a model with these dtype and device settings loads in here (what ``load_causal_lm``
    uses, for naming it in a verdict): ``resolve_dtype`` on the device ``resolve_device`` picks; the device is
    resolved (and must exist) only when the dtype is ``auto``, the one setting that follows it."""
    check_dtype(name)
    return resolve_dtype(name, resolve_device(device) if name == "auto" else "cpu")


def torch_dtype(name: str, device: str = "cpu") -> Any:
    """The torch dtype of a setting on ``device`` (see ``resolve_dtype`` for ``auto``)."""
    import torch

    return getattr(torch, resolve_dtype(name, device))


@functools.cache
def cpu_has_bf16() -> bool:
    """The CPU has AVX-512 bf16 instructions (Linux; elsewhere: no). Read once per process: a verdict's backend
    asks for every record."""
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def has_bf16() -> bool:
    """bf16 arithmetic in hardware: a CUDA device that supports it, or a CPU with AVX-512 bf16."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_has_bf16()


def batch_for(setting: int, device: str, cpu_default: int) -> int:
    """A batch size: the setting when it is positive; 0 means ``cpu_default`` on the CPU and
    ``ACCELERATOR_BATCH_FACTOR`` times it on CUDA or MPS."""
    if setting > 0:
        return setting
    return cpu_default if device == "cpu" else cpu_default * ACCELERATOR_BATCH_FACTOR
