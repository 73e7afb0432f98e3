"""`warden serve`: validate everything up front, then run uvicorn with a graceful drain."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
import uvicorn

from warden.cli.common import ConfigOption, config_or_exit, database_or_exit, err_console, fail
from warden.config import config_hash
from warden.engine.model_files import ModelFileMissing, resolve_model_path


class _DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT, report not-ready at once; uvicorn then finishes open streams."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        state = getattr(getattr(self.config.app, "state", None), "warden", None)
        if state is not None:
            state.draining = True
        super().handle_exit(sig, frame)


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default server.port).")] = None,
) -> None:
    """Serve the OpenAI-compatible API (built-in SmolLM2 unless the config says otherwise)."""
    cfg = config_or_exit(config)
    for model in cfg.models:
        if model.backend == "llamacpp":
            try:
                resolve_model_path(model.path)
            except ModelFileMissing as exc:
                fail(str(exc))
    database_or_exit(cfg).dispose()  # migrations run here, so failures read as one message

    logging.basicConfig(level=cfg.server.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from warden.api.app import create_app

    app = create_app(cfg)
    bind_host = host or cfg.server.host
    bind_port = port or cfg.server.port
    err_console.print(f"warden: serving {[m.name for m in cfg.models]} on "
                      f"http://{bind_host}:{bind_port}  CONFIG_HASH={config_hash(cfg)[:12]}",
                      highlight=False)
    server = _DrainingServer(uvicorn.Config(
        app, host=bind_host, port=bind_port, log_level=cfg.server.log_level,
        timeout_graceful_shutdown=int(cfg.server.drain_timeout_s) or None,
        proxy_headers=False,
    ))
    server.run()
