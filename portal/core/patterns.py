"""Regular expressions that staff write (a custom field's format), run with RE2 (google-re2):
its matching time grows with the text only, whatever the pattern, so no value can stall the
server. Python's own `re` backtracks: `(a+)+` against 25 characters took seconds, doubling with
each more. RE2 refuses what cannot be matched that way (back-references, look-around)."""

from __future__ import annotations

import re
from functools import lru_cache

import re2

MAX_PATTERN_LENGTH = 500
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is a message for staff, not a log line
_OPTIONS.max_mem = 8 << 20  # the compiled program's memory, at most


@lru_cache(maxsize=256)
def _compiled(pattern: str):
    return re2.compile(pattern, _OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be used, or None."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"The regular expression is too long (at most {MAX_PATTERN_LENGTH} characters)."
    try:
        _compiled(pattern)
    except re2.error as error:
        reason = error.args[0].decode() if isinstance(error.args[0], bytes) else str(error)
    else:
        return None
    try:
        # Only compiled, never matched: tells a mistake from a feature RE2 leaves out.
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return f"This is not a valid regular expression ({reason})."
    return (
        f"This regular expression cannot be used ({reason}). Back-references such as \\1, "
        "look-arounds such as (?=…) or (?<!…) and repeat counts over 1000 are not supported: "
        "they can make checking a value take practically forever."
    )


def full_match(pattern: str, value: str) -> bool | None:
    """Whether all of `value` matches `pattern`; None when the pattern cannot be used (one
    saved before patterns were checked this way)."""
    try:
        return _compiled(pattern).fullmatch(value) is not None
    except re2.error:
        return None
