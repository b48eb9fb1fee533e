"""Who acts: staff, a client, the system or a link, with the address the request came from, for
audit lines and consent records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """kind: staff, client, system, unsubscribe-link, api-key…; `id` of the staff member,
    client or key when there is one."""

    kind: str
    id: int | None = None
    address: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind
