"""Trace datasets, answer checking, truncation and pair building."""
