"""Batch serving: the OpenAI Batch API (files, jobs, per-line results) run in the engine's
idle capacity, durable across restarts and leased between replicas (docs/batch.md)."""
