"""Reading the leaderboard's Markdown table back in tests."""

from __future__ import annotations


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Method -> its cells, from the Markdown table."""
    rows = {}
    for line in markdown.splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows
