"""Each replica's view of the rollout state: the whole table in memory, refreshed from the
store every `ttl_s` (<= 0.5 s) by a worker thread, so choosing an arm is a dict lookup and a
rollback written anywhere is honoured everywhere within a second.

When a refresh sees a rollout's generation move, the change listeners run (in the refresher's
thread): the runtime uses that to clear this replica's caches after a rollback or promotion
made by another replica. A store outage keeps the last known state (requests never fail for
it); the reason is in `last_error`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from warden.rollout.state import RolloutState, RolloutStore

log = logging.getLogger(__name__)

MAX_TTL_S = 0.5
Listener = Callable[[RolloutState | None, RolloutState], None]


class RolloutView:
    def __init__(self, store: RolloutStore, ttl_s: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl_s = min(max(ttl_s, 0.0), MAX_TTL_S)
        self._clock = clock
        self._states: dict[str, RolloutState] = {}
        self._fetched = float("-inf")
        self._background = False
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.last_error: str | None = None

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # reading ---------------------------------------------------------------------------
    def _current(self) -> dict[str, RolloutState]:
        if not self._background and self._clock() - self._fetched >= self.ttl_s:
            self.refresh_quietly()
        return self._states

    def get(self, name: str) -> RolloutState | None:
        return self._current().get(name)

    def all(self) -> dict[str, RolloutState]:
        return dict(self._current())

    # refreshing --------------------------------------------------------------------------
    def refresh(self) -> None:
        fresh = self.store.all()
        self._install(fresh)
        self.last_error = None

    def refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception as exc:
            if self.last_error is None:
                log.warning("rollouts: refresh failed, keeping the last known state: %s", exc)
            self.last_error = str(exc) or type(exc).__name__
            self._fetched = self._clock()

    def adopt(self, state: RolloutState) -> None:
        """A state this process just wrote: use it at once (listeners run too)."""
        self._install({**self._states, state.name: state})

    def _install(self, fresh: dict[str, RolloutState]) -> None:
        with self._lock:
            old = self._states
            merged = {name: state if name not in old or state.generation >= old[name].generation
                      else old[name] for name, state in fresh.items()}
            self._states = merged
            self._fetched = self._clock()
        for name, state in merged.items():
            before = old.get(name)
            if before is not None and before.generation == state.generation:
                continue
            for listener in self._listeners:
                try:
                    listener(before, state)
                except Exception:
                    log.exception("rollout change listener failed for %s", name)

    async def run_refresher(self) -> None:
        """Keep the view fresh from a worker thread until cancelled."""
        self._background = True
        try:
            while True:
                await asyncio.to_thread(self.refresh_quietly)
                await asyncio.sleep(self.ttl_s)
        finally:
            self._background = False
