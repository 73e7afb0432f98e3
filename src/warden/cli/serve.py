"""`warden serve`: validate everything up front, then run uvicorn with a graceful drain."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from warden.cli.common import (
    ConfigOption,
    config_or_exit,
    database_or_exit,
    err_console,
    fail,
    store_location,
)


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default server.port).")] = None,
) -> None:
    """Serve the OpenAI-compatible API (built-in SmolLM2 unless the config says otherwise)."""
    from warden.config import config_hash
    from warden.engine.model_files import ModelFileMissing, resolve_model_path

    cfg = config_or_exit(config)
    for model in cfg.models:
        if model.backend == "llamacpp":
            try:
                resolve_model_path(model.path)
            except ModelFileMissing as exc:
                fail(str(exc))
    database_or_exit(cfg).dispose()  # migrations run here, so failures read as one message

    from warden.safety.scrub import scrub_pii
    from warden.telemetry.logs import FIELDS, configure_logging

    # One handler for every logger (uvicorn's too), JSON lines by default, PII scrubbed.
    configure_logging(cfg.telemetry.log_format, cfg.server.log_level, scrub=scrub_pii)
    scrub_pii("warm-up: a.b@mail.com +1 415 555 0100")  # loads its lazy parts before traffic
    import uvicorn

    from warden.api.app import create_app
    from warden.cli.draining_server import DrainingServer

    app = create_app(cfg)
    bind_host = host or cfg.server.host
    bind_port = port or cfg.server.port
    banner = (f"warden: serving {[m.name for m in cfg.models]} on "
              f"http://{bind_host}:{bind_port}  CONFIG_HASH={config_hash(cfg)[:12]}  "
              f"store={store_location(cfg.store.url)}")
    if cfg.telemetry.log_format == "json":
        logging.getLogger("warden.serve").info(banner, extra={FIELDS: {
            "event": "serving", "models": [m.name for m in cfg.models], "host": bind_host,
            "port": bind_port, "config_hash": config_hash(cfg)}})
    else:
        err_console.print(banner, highlight=False, soft_wrap=True)
    server = DrainingServer(uvicorn.Config(
        app, host=bind_host, port=bind_port, log_level=cfg.server.log_level,
        timeout_graceful_shutdown=int(cfg.server.drain_timeout_s) or None,
        proxy_headers=False,
        access_log=False,  # warden.access logs each request, without its query string
        log_config=None,  # keep configure_logging's handler: uvicorn's would skip the scrubber
    ))
    server.run()
