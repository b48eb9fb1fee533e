"""Who acts: staff, a client, the system or a link, with the address the request came from and
what they may do, for permission checks, audit lines and consent records."""

from __future__ import annotations

from dataclasses import dataclass

from portal.core.permissions import Forbidden


@dataclass(frozen=True)
class Actor:
    """kind: staff, client, system, unsubscribe-link, api-key…; `id` of the staff member,
    client or key when there is one; `name` as people read it in logs ("Ada Lovelace", the
    key's name). `permissions`: what a staff member or key may do in the company it acts in;
    None for actors no permission applies to (the system, the command line, a client acting
    on its own account, a link)."""

    kind: str
    id: int | None = None
    address: str = ""
    name: str = ""
    permissions: frozenset[str] | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind

    def may(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions

    def require(self, *permissions: str) -> None:
        """Raises Forbidden unless the actor holds every one of `permissions`."""
        for permission in permissions:
            if not self.may(permission):
                raise Forbidden(permission)


SYSTEM = Actor(kind="system", name="System")
