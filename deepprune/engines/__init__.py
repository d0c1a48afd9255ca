"""Engines: where traces come from. ``replay`` (stored traces) and ``vllm`` (live generation)."""
