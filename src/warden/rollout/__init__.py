"""Rollouts: arms (model + prompt version + index versions), sticky A/B and shadow traffic,
canary analysis with automatic rollback, promotion, drift and scheduled evaluations
(docs/rollout.md)."""
