"""The parameter marks of raw SQL: Piccolo's `raw` and `QueryString` take `{}` for each value."""


def placeholders(count: int) -> str:
    """`{}, {}, …`: `count` marks, for an IN list of that many values."""
    return ", ".join(["{}"] * count)
