"""Policy advisory (issue 15, seed 004): an LLM policy advisor rolled out beside the current
policy engine, shadow -> advisory -> enforce per action type, with its review queue,
measurement, promotion gates and feedback loop. docs/advisory.md is the guide.

Pure logic (situations, rules, modes, gates, measurement) is apart from I/O (store, the
OPA client, the advisor's generation call); the API layer passes the generation call in.
"""
