"""Warden: a safety-first LLM serving gateway."""

__version__ = "0.1.0"
