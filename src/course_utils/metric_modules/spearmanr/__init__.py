"""Spearman rank correlation as an `evaluate` module (loaded by path, see spearmanr.py)."""
