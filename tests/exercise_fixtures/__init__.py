"""Helpers for the exercise tests: built otter output, notebook namespaces, bad submissions."""
