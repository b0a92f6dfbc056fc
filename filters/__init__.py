"""Filters: one small module per filter, the chain that turns scores into verdicts, the corpus dedup pass."""
