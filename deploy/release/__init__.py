"""Release artifacts: a CycloneDX SBOM of the environment, an in-toto v1 statement carrying
SLSA provenance v1 for the built wheel, a DSSE signature over it, and the check of all three.

    python -m deploy.release all --venv .venv --out dist/release      # make release-artifacts
    python -m deploy.release verify dist/release/provenance.intoto.dsse.json --key KEY

Modules: digests (hashing), inventory (what a venv has installed), sbom and provenance (pure
document builders), signing (DSSE with ed25519 or HMAC-SHA256), build (git and the wheel),
cli (the commands).
"""
