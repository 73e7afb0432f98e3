"""Prometheus metrics of the policy advisor, registered on the app's registry. Labels are
bounded: action types, modes, decisions, error kinds, override categories."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60)


class AdvisoryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.decisions = Counter(
            "warden_advisory_decisions_total", "Advisories served, by action type, mode and "
            "the advisor's decision ('error' when it gave none).",
            ["action_type", "mode", "decision"], registry=r)
        self.enforced = Counter(
            "warden_advisory_enforced_total", "Decisions enforced, by action type and mode.",
            ["action_type", "mode", "decision"], registry=r)
        self.comparisons = Counter(
            "warden_advisory_comparisons_total", "Advisor vs current engine, by outcome "
            "(match, mismatch, error).", ["action_type", "mode", "outcome"], registry=r)
        self.reviews = Counter(
            "warden_advisory_reviews_total", "Human reviews, by outcome (match, override, "
            "timeout).", ["action_type", "outcome"], registry=r)
        self.overrides = Counter(
            "warden_advisory_overrides_total", "Reviewer overrides by category.",
            ["action_type", "category"], registry=r)
        self.fail_safe = Counter(
            "warden_advisory_fail_safe_total", "Advisor allows the fail-safe turned into "
            "require_attestation.", ["action_type"], registry=r)
        self.errors = Counter(
            "warden_advisory_errors_total", "Advisories without an advisor decision, by kind "
            "(the current engine's decision stood).", ["action_type", "kind"], registry=r)
        self.current_engine_errors = Counter(
            "warden_advisory_current_engine_errors_total", "Failures of the external current "
            "policy engine (decided deny).", ["engine"], registry=r)
        self.latency = Histogram(
            "warden_advisory_latency_seconds", "Advisor latency (prompt, generation, parse).",
            ["action_type"], buckets=_LATENCY_BUCKETS, registry=r)
        self.agreement = Gauge(
            "warden_advisory_agreement_ratio", "Shadow agreement of the active prompt "
            "variant since the action type entered its mode (refreshed with the shift).",
            ["action_type"], registry=r)
        self.override_rate = Gauge(
            "warden_advisory_override_ratio", "Reviewer override rate in advisory mode "
            "(refreshed with the shift).", ["action_type"], registry=r)
        self.shift = Gauge(
            "warden_advisory_distribution_shift", "Largest absolute change of a decision's "
            "share against the baseline (0..1).", registry=r)
        self.shift_alert = Gauge(
            "warden_advisory_distribution_shift_alert", "1 when the decision distribution "
            "shifted beyond the threshold (and beyond noise), else 0.", registry=r)
        self.mode = Gauge(
            "warden_advisory_mode", "1 for each action type's current mode.",
            ["action_type", "mode"], registry=r)
