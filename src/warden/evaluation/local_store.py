"""The server's own store, when the eval runs beside it (same config, same database).

Some evidence needs more than the HTTP API gives: the text of the retrieved chunks (for the
claim judge's chunk labels), the CLI's database workflows (keys, audit, backups) and the raw
engine rankings for the dev-split config grid. They are used only when the local config is
the server's (equal CONFIG_HASH) and the local database holds exactly the index versions the
server serves (same version ids and Merkle roots); otherwise the caller gets the reason and
reports that evidence as skipped or unmeasured.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warden.config import WardenConfig
    from warden.store.db import Database

CLI_TIMEOUT_S = 600


@dataclass(frozen=True)
class Ranking:
    """One query's engine rankings over a version: chunk ids best first, before fusion."""

    lexical: tuple[str, ...]
    vector: tuple[str, ...]


class LocalStore:
    def __init__(self, config: WardenConfig, db: Database, config_path: Path | None) -> None:
        self.config = config
        self.db = db
        self.config_path = config_path

    def close(self) -> None:
        self.db.dispose()

    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        from warden.retrieval.store import ChunkStore

        return ChunkStore(self.db).texts(list(chunk_ids))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`warden ARGS` on this config, in a child process (exactly what an operator runs)."""
        command = [sys.executable, "-m", "warden.cli.main", *args]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                              env=dict(os.environ), check=False)

    def rankings(self, version_id: int, questions: Sequence[str], vectors: Any, pool: int
                 ) -> tuple[list[Ranking], dict[str, str], dict[str, str]]:
        """Per question the lexical and vector rankings (top `pool` each), plus the doc id and
        text of every chunk they name. `vectors` are the questions' MiniLM embeddings."""
        from warden.config.retrieval import retrieval_config
        from warden.retrieval.index import IndexManager
        from warden.retrieval.store import ChunkStore
        from warden.retrieval.versions import VersionStore

        manager = IndexManager(ChunkStore(self.db), VersionStore(self.db),
                               retrieval_config(self.config))
        index = manager.load(version_id)
        out: list[Ranking] = []
        seen: set[int] = set()
        for question, vector in zip(questions, vectors, strict=True):
            lexical = index.lexical.search(question, pool)[0].tolist()
            vector_rows = index.vector.search(vector, pool)[0].tolist()
            seen.update(lexical, vector_rows)
            out.append(Ranking(tuple(index.rows[r].chunk_hash for r in lexical),
                               tuple(index.rows[r].chunk_hash for r in vector_rows)))
        doc_of = {index.rows[r].chunk_hash: index.rows[r].doc_id for r in seen}
        return out, doc_of, self.chunk_texts(list(doc_of))


def open_local_store(config_path: Path | None, server_config_hash: str | None,
                     corpora: Mapping[str, Mapping[str, Any]]) -> LocalStore | str:
    """The server's store, or the reason it is not reachable from here."""
    from warden.config import ConfigError, config_hash, load_config
    from warden.retrieval.versions import VersionStore
    from warden.store.db import StoreUnavailable, open_database

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return f"the local config is invalid ({exc.source})"
    if server_config_hash is None or config_hash(config) != server_config_hash:
        return ("the server's CONFIG_HASH differs from the local config's (the server is "
                "remote, or runs another config): pass --config with the server's warden.yaml "
                "on the server host")
    try:
        db = open_database(config.store.url)
    except StoreUnavailable as exc:
        return f"the local store is unavailable ({exc})"
    versions = VersionStore(db)
    for corpus, view in corpora.items():
        version = view.get("active_version")
        info = versions.get(int(version)) if isinstance(version, int) else None
        if info is None or info.corpus != corpus or info.merkle_root != view.get("merkle_root"):
            db.dispose()
            return (f"the local store does not hold corpus '{corpus}' version {version} with "
                    "the server's Merkle root: it is not the server's store (a relative "
                    "store.url resolves per directory; run from the server's directory)")
    return LocalStore(config, db, config_path)
