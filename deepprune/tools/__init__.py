"""User tools run on finished runs and trace files: ``deepprune leaderboard|redundancy|sweep-summary|...``."""
