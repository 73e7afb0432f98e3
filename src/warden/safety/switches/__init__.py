"""Kill switches: the store (SQL, mirrored to Redis for replicas), the automatic triggers
that turn them off, their metrics, their backup section and the runtime that runs them."""
