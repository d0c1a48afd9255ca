"""Metrics files, judge metrics, leaderboard tables, plots and experiment loggers."""
