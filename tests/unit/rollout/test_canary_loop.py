"""The canary loop's control flow (canary_runner.CanaryRunner.run): it analyses every
interval until the duration is over or the analysis ends, and gives up after the server was
unreachable too many intervals in a row. The interval itself is scripted here; against a real
server it is tests/integration/test_rollout.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warden.evaluation.client import EndpointError
from warden.rollout.canary_runner import MAX_UNREACHABLE, CanaryRunner, IntervalOutcome


class Scripted(CanaryRunner):
    def __init__(self, script: list[Any]) -> None:
        super().__init__(None, None, "docs", admin_key="k", out=Path("/nonexistent"))  # type: ignore[arg-type]
        self.script = script
        self.calls = 0

    def run_once(self) -> IntervalOutcome:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        verdict, action = step
        return IntervalOutcome("docs", verdict, action)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(script: list[Any], duration_s: float = 3600, interval_s: float = 600
        ) -> tuple[Scripted, list[IntervalOutcome]]:
    runner, clock = Scripted(script), Clock()
    return runner, runner.run(duration_s=duration_s, interval_s=interval_s,
                              sleep=clock.sleep, clock=clock)


def test_it_keeps_analysing_until_the_duration_is_over() -> None:
    runner, outcomes = run([("inconclusive", "continue"), ("pass", "continue")])
    assert runner.calls == 6 and [o.verdict for o in outcomes][:2] == ["inconclusive", "pass"]


def test_it_stops_when_the_analysis_ends() -> None:
    for action in ("abort", "pause", "promote", "stopped"):
        runner, outcomes = run([("pass", "continue"), ("fail", action)])
        assert runner.calls == 2 and outcomes[-1].action == action


def test_an_unreachable_server_is_retried_then_given_up() -> None:
    down = EndpointError("cannot reach http://warden:8080")
    runner, outcomes = run([down], duration_s=10 * 3600)
    assert runner.calls == MAX_UNREACHABLE + 1
    assert outcomes[-1].action == "stopped" and outcomes[-1].verdict == "error"
    runner, outcomes = run([down, down, ("pass", "continue")], duration_s=3600)
    assert [o.verdict for o in outcomes[:3]] == ["error", "error", "pass"]
