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
