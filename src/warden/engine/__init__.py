"""Engines turn a GenerationRequest into a stream of text deltas. They know nothing of HTTP."""
