"""DeepPrune: judge-based pruning of redundant parallel reasoning traces (arXiv 2510.08483).

The package follows the pipeline: ``data`` (trace datasets, answers, truncation, pairs) →
``judges`` (P(same final answer) for two trace prefixes) → ``engines`` (where traces come from:
stored replay or live vLLM) → ``methods`` (cons@N, DeepConf, DeepPrune) → ``report``.
"""

__version__ = "0.1.0"
