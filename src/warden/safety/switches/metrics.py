"""`warden_switch_on{switch="..."}`: 1 while a kill switch is on, 0 while it is off.

Read at scrape time from the in-memory state (no I/O). Labels are switch names only: the two
fixed switches plus configured or flipped tools, a bounded set.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from warden.safety.switches.store import Switches


class SwitchCollector(Collector):
    def __init__(self, switches: Switches) -> None:
        self._switches = switches

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("warden_switch_on", "1 while the kill switch is on (the "
                                  "feature may run), 0 while it is off.", labels=["switch"])
        for state in self._switches.all():
            gauge.add_metric([state.name], 1.0 if state.on else 0.0)
        yield gauge
