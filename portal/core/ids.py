"""Row ids from URLs and forms. Tables use 32-bit SERIAL keys: a larger number (or zero, or a
negative one) names no row, and passing it to PostgreSQL (int4) or SQLite (int64) would fail with
a database error instead of the "not found" it deserves."""

MAX_ID = 2**31 - 1


def is_row_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def parse_id(text: str) -> int | None:
    """A row id (or version number) typed into a form or URL, or None when it is not one:
    ASCII digits only ("²" passes str.isdigit but not int) and within range."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if is_row_id(value) else None
