"""Rollout metrics on the app's registry. Labels are bounded: configured rollout names, the
two arm names, verdicts, drift feature names and job names.

    warden_rollout_requests_total{rollout, arm, kind}   kind: served | shadow | pinned
    warden_rollout_latency_seconds{rollout, arm}        served requests, arrival to end
    warden_rollout_shadow_skipped_total{rollout, reason}
    warden_rollout_challenger_share{rollout}            0 while no challenger is live
    warden_canary_verdict{rollout, verdict}             1 for the latest verdict, else 0
    warden_canary_score{rollout}                        the latest Kayenta score (0-100)
    warden_drift_psi{feature}                           the latest PSI per feature
    warden_schedule_last_run_timestamp{job, status}
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
VERDICTS = ("pass", "marginal", "fail", "inconclusive")


class RolloutMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.requests = Counter("warden_rollout_requests_total", "Requests per rollout arm.",
                                ["rollout", "arm", "kind"], registry=r)
        self.latency = Histogram("warden_rollout_latency_seconds", "Arrival to the end of "
                                 "the answer, per rollout arm.", ["rollout", "arm"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.shadow_skipped = Counter("warden_rollout_shadow_skipped_total", "Shadow copies "
                                      "not sent (no idle engine capacity, or an error).",
                                      ["rollout", "reason"], registry=r)
        self.share = Gauge("warden_rollout_challenger_share", "The live challenger's share "
                           "(0 while none is live).", ["rollout"], registry=r)
        self.arm_weight = Gauge("warden_rollout_arm_weight", "Share of the rollout's "
                                "traffic routed to the arm (0..1; shadow copies are not "
                                "routed).", ["rollout", "arm"], registry=r)
        self.verdict = Gauge("warden_canary_verdict", "1 for the latest canary verdict of "
                             "the rollout, 0 for the others.", ["rollout", "verdict"],
                             registry=r)
        self.score = Gauge("warden_canary_score", "The latest canary score (0-100).",
                           ["rollout"], registry=r)
        self.drift_psi = Gauge("warden_drift_psi", "The latest PSI of a traffic feature "
                               "against its baseline window.", ["feature"], registry=r)
        self.schedule_last = Gauge("warden_schedule_last_run_timestamp", "When a scheduled "
                                   "job last finished, by outcome.", ["job", "status"],
                                   registry=r)

    def set_weights(self, rollout: str, *, challenger_share: float) -> None:
        self.arm_weight.labels(rollout, "champion").set(1.0 - challenger_share)
        self.arm_weight.labels(rollout, "challenger").set(challenger_share)

    def set_verdict(self, rollout: str, verdict: str, score: float | None) -> None:
        for name in VERDICTS:
            self.verdict.labels(rollout, name).set(1.0 if name == verdict else 0.0)
        if score is not None:
            self.score.labels(rollout).set(score)

    def set_drift(self, psi: Mapping[str, float | None]) -> None:
        for feature, value in psi.items():
            if value is not None:
                self.drift_psi.labels(feature).set(value)
