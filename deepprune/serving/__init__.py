"""``deepprune serve``: an OpenAI-compatible server doing pruned self-consistency per request."""
