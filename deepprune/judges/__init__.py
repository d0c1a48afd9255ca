"""Judges: P(two trace prefixes reach the same final answer)."""
