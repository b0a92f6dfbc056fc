"""``datagen models``: the default models, where they resolve and whether they are ready."""

from __future__ import annotations

import click

from datagen.commands.common import echo_json, json_option
from datagen.console import result


@click.command("models")
@click.option(
    "--prepare", is_flag=True, help="Convert the SmolLM2 GGUF into the cached safetensors folder now."
)
@json_option
def models_cmd(prepare: bool, as_json: bool) -> None:
    """List default models (name, roles, shipped source, cached path, cached?). Any setting also takes a path or hub id."""
    from dataclasses import asdict

    from datagen import modelhub

    if prepare:
        modelhub.convert_smollm2()
    rows = [asdict(m) for m in modelhub.defaults()]
    if as_json:
        echo_json({"cache_dir": str(modelhub.cache_dir()), "models": rows})
        return
    result(f"cache: {modelhub.cache_dir()}  (DATAGEN_CACHE)")
    for m in rows:
        state = (
            "cached"
            if m["cached"]
            else "not cached (converted on first use, or run `datagen models --prepare`)"
        )
        result(
            f"\n{m['name']}  [{m['roles']}]\n  source:      {m['source']}\n  resolves to: {m['resolves_to']}\n  {state}"
        )
