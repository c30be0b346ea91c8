"""Shared helpers for the Transformer-encoders course: device, seeds, budgets, Hub, data, doctor."""

__version__ = "0.1.0"
