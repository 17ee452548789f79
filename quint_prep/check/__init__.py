"""``check``: the rules (pure functions to findings), the findings report, and
running the rules over files on disk."""
