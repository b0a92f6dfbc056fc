"""Generation methods as published: Self-Instruct (Wang et al. 2022) and Evol-Instruct (Xu et al. 2023)."""
