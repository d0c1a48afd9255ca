"""Developer benchmarks and acceptance gates (see benchmarks/README.md); run from the repository root."""
