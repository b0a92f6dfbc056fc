"""One loader: only ``datagen/lm/`` (the local-model layer) calls ``from_pretrained`` on a causal LM.

The rule: no module under ``datagen/``, ``filters/`` or ``finetune/`` other than those in ``datagen/lm/`` calls
``X.from_pretrained(...)`` where ``X`` is ``AutoModelForCausalLM`` or any ``*ForCausalLM`` class, a PEFT model
(``PeftModel``, ``AutoPeftModel*``) or a tokenizer (``AutoTokenizer``, any ``*Tokenizer*`` class), also under
an import alias. Everything else loads through ``datagen.lm`` (``load_causal_lm``, ``load_model``,
``load_adapter``, ``load_tokenizer``, ``load_gguf``), so device and dtype handling, caching and the error
messages live in one place. The walk uses ``ast``, so comments and docstrings do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("datagen", "filters", "finetune")
LAYER = ROOT / "datagen" / "lm"


def is_causal_lm_loader(name: str) -> bool:
    return (
        name.endswith("ForCausalLM")
        or name == "PeftModel"
        or name.startswith("AutoPeftModel")
        or "Tokenizer" in name
    )


def offending_calls(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                aliases[a.asname or a.name] = a.name
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "from_pretrained":
            continue
        target = node.func.value
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if is_causal_lm_loader(aliases.get(name, name)):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {name}.from_pretrained")
    return found


def test_only_the_local_model_layer_loads_causal_lms() -> None:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 50
    outside = [f for p in files if LAYER not in p.parents for f in offending_calls(p)]
    assert outside == [], "load causal LMs and their tokenizers through datagen.lm:\n" + "\n".join(outside)
    inside = [f for p in sorted(LAYER.rglob("*.py")) for f in offending_calls(p)]
    assert len(inside) >= 4  # the rule looks at real calls: the layer's own loads are found


def test_the_rule_sees_aliases_and_attribute_access(tmp_path: Path) -> None:
    src = (
        "import transformers\n"
        "from transformers import AutoModelForCausalLM as M, LlamaForCausalLM\n"
        "from peft import PeftModel\n"
        "def f(p):\n"
        "    M.from_pretrained(p)\n"
        "    transformers.AutoTokenizer.from_pretrained(p)\n"
        "    LlamaForCausalLM.from_pretrained(p)\n"
        "    PeftModel.from_pretrained(None, p)\n"
        "    SentenceTransformer(p)\n"
    )
    path = tmp_path / "bad.py"
    path.write_text(src)
    assert [f.split(": ")[1] for f in offending_calls(path, tmp_path)] == [
        "M.from_pretrained",
        "AutoTokenizer.from_pretrained",
        "LlamaForCausalLM.from_pretrained",
        "PeftModel.from_pretrained",
    ]
