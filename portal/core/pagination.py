"""Page numbers for lists: out-of-range pages are clamped, never an error."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    number: int
    per_page: int
    total: int

    @classmethod
    def of(cls, number: int, per_page: int, total: int) -> Page:
        last = max(1, -(-total // per_page))
        return cls(number=min(max(1, number), last), per_page=per_page, total=total)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.last

    def window(self, around: int = 2) -> list[int | None]:
        """The page numbers to link: the first, the last, and `around` on each side of this
        one; None where numbers are left out (shown as a gap)."""
        shown = {1, self.last, *range(self.number - around, self.number + around + 1)}
        numbers = sorted(n for n in shown if 1 <= n <= self.last)
        pages: list[int | None] = []
        for number in numbers:
            if pages and number - (pages[-1] or 0) > 1:
                pages.append(None)
            pages.append(number)
        return pages
