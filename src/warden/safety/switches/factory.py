"""Building the switch store from the config (the server's runtime and the CLI share it).

Kept apart from the runtime, which pulls in the metrics collector and the refresher loop:
`warden switch` needs only the store."""

from __future__ import annotations

from warden.config import WardenConfig
from warden.safety.switches.store import Switches
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents


def build_switches(config: WardenConfig, db: Database, *, audit: AuditLog | None = None,
                   incidents: Incidents | None = None) -> Switches:
    """The switch store as configured (the CLI uses this too)."""
    # Configured tools are listed (and get a metric) before anyone flips them.
    tools = [t.name for t in getattr(config, "tools", [])]
    return Switches(db, config.store.redis_url, ttl_s=config.switches.cache_ttl_s,
                    redis_prefix=config.switches.redis_prefix, audit=audit,
                    incidents=incidents, tool_names=tools)
