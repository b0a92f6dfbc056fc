"""One shape for "which model, through which provider, run how": teachers, judges and scorers all use it.

A ``ModelEndpoint`` names a provider (``local``, ``openai``, ``anthropic`` or a plugin), its model (None: the
provider's default; the local default is SmolLM2-135M-Instruct), the provider's own options (validated by
the provider: unknown keys are errors), an API key that is never stored, how requests execute (``exec``:
concurrency, retries, rate limits, budget) and, for a model run on this machine, its dtype and device.

Configs either subclass it (a teacher: ``provider``, ``model`` ... at the top of the generation config) or
hold one (``judge: {provider: openai, model: gpt-4o-mini}``). ``make_provider(endpoint)`` in
``datagen.providers.registry`` turns it into a ready provider.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from datagen import modelhub
from datagen.config import ConfigModel
from datagen.errors import InputError
from datagen.lm import check_device, check_dtype
from datagen.providers.exec_config import ExecConfig


def _checked(check: Any) -> Any:
    def validate(value: str) -> str:
        try:
            return str(check(value))
        except InputError as e:  # pydantic reports a ValueError with the field's name
            raise ValueError(str(e)) from None

    return AfterValidator(validate)


# A dtype or device setting, checked when the config is read (no torch needed); ``datagen.lm`` resolves it.
DType = Annotated[str, _checked(check_dtype)]
Device = Annotated[str, _checked(check_device)]


class ModelEndpoint(ConfigModel):
    """A model behind a provider, with how its requests run (see the module docstring)."""

    provider: str = Field(
        default="local",
        description="which provider runs the model: local, openai, anthropic or a plugin's name",
    )
    model: str | None = Field(
        default=None,
        description=f"model name, local path or Hugging Face id (none: the provider's default; local: {modelhub.SMOLLM2})",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider options (validated by the provider), e.g. base_url=URL"
    )
    cache_as: str | None = Field(
        default=None,
        description="the name the request cache files this endpoint's answers under (default: the model name; "
        "the server's address is not part of it, so the same server on another port or host alias replays "
        "what it answered). Set it when two servers serve different weights under one model name, or to "
        "MODEL@BASE_URL to replay answers that earlier versions cached under the server's address",
    )
    api_key: str | None = Field(
        default=None,
        exclude=True,
        description="API key (never stored with the run; default: the environment)",
    )
    exec: ExecConfig = Field(
        default_factory=ExecConfig, description="how requests run: concurrency, retries, rate limits, budget"
    )
    dtype: DType = Field(
        default="float32",
        description="local models: float32, bfloat16 (about 1.7x faster on CPUs with bf16), float16 or auto",
    )
    device: Device = Field(
        default="auto", description="local models: auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps"
    )

    @property
    def is_local(self) -> bool:
        """True when the model runs on this machine through ``datagen.lm``."""
        return self.provider == "local"

    def local_model(self) -> str:
        """The local model's name (the default SmolLM2 when none is set)."""
        return self.model or modelhub.SMOLLM2


def local_endpoint(data: Any) -> Any:
    """A plain string where an endpoint goes is a local model (``judge: path/to/model``); anything else as is."""
    return {"provider": "local", "model": data} if isinstance(data, str) else data
