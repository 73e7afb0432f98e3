"""Evaluation: manifests, metrics, gates, canary analysis, drift and their statistics."""
