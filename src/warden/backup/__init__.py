"""Backups of the whole store (keys, retrieval, kill switches) and their restore. Sits above
retrieval and safety: it names the state it carries, they do not register themselves."""
