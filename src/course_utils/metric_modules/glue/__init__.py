"""GLUE accuracy as an `evaluate` module (loaded by path, see glue.py)."""
