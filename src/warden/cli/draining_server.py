"""uvicorn's server with Warden's drain: on SIGTERM/SIGINT, /readyz says not-ready at once,
then uvicorn finishes the open streams. Imported only by `warden serve` (uvicorn is heavy)."""

from __future__ import annotations

from typing import Any

import uvicorn


class DrainingServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: Any) -> None:
        state = getattr(getattr(self.config.app, "state", None), "warden", None)
        if state is not None:
            state.lifecycle.draining = True
        super().handle_exit(sig, frame)
