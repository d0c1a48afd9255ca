"""Configs only inference entries see (prune, eval-judge, demo, serve): ``judge=`` picks an inference judge."""
