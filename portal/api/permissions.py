"""What an API key may do: the API permissions, the core's here and the plugins' in their
`Plugin.api_permissions`.

Each one stands for a staff permission (`requires`): only a staff member who holds it may grant
it to a key, and a key keeps it only while the staff member who made it still holds it in the
key's company, so a key never does more than its maker. Keys made on the command line have no
maker and keep what they were given.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from portal.core import permissions as staff
from portal.core.errors import ValidationError
from portal.core.permissions import label_of

PERMISSION = "permission"  # the key of an API route handler's opt that names what it needs
ALL = "all"  # on the command line: every permission a key may have


@dataclass(frozen=True)
class ApiPermission:
    key: str  # e.g. "clients.read", as API clients and the command line name it
    label: str  # as staff read it
    requires: str  # the staff permission its granter, and the key's maker, must hold

    @property
    def requires_label(self) -> str:
        return label_of(self.requires)


CLIENTS_READ = "clients.read"
CLIENTS_WRITE = "clients.write"
CLIENTS_STATUS = "clients.status"
CLIENTS_DELETE = "clients.delete"
CLIENTS_NOTES = "clients.notes"

# Reading a client's notes needs only clients.read, as staff read them on the profile.
CORE_API_PERMISSIONS = (
    ApiPermission(CLIENTS_READ, "Read clients", staff.CLIENTS_VIEW),
    ApiPermission(CLIENTS_WRITE, "Add and edit clients", staff.CLIENTS_EDIT),
    ApiPermission(CLIENTS_STATUS, "Change a client's status", staff.CLIENTS_STATUS),
    ApiPermission(CLIENTS_DELETE, "Delete clients", staff.CLIENTS_DELETE),
    ApiPermission(CLIENTS_NOTES, "Add, edit and delete notes", staff.CLIENTS_NOTES),
)


def api_catalog() -> list[ApiPermission]:
    """Every API permission there is: the core's, then the plugins'."""
    from portal import plugins  # the plugin registry is loaded by then; it imports the core

    return [*CORE_API_PERMISSIONS, *plugins.api_permissions()]


def all_api_permissions() -> frozenset[str]:
    return frozenset(permission.key for permission in api_catalog())


def api_label_of(key: str) -> str:
    return next((p.label for p in api_catalog() if p.key == key), key)


def in_effect(granted: Collection[str], maker_holds: frozenset[str] | None) -> frozenset[str]:
    """Of the permissions a key was granted, those it has now: the known ones whose staff
    permission its maker still holds (`maker_holds`; None for a key without a maker)."""
    return frozenset(
        p.key
        for p in api_catalog()
        if p.key in granted and (maker_holds is None or p.requires in maker_holds)
    )


def staff_equivalents(keys: Collection[str]) -> frozenset[str]:
    """The staff permissions these API permissions stand for (clients.write → clients.edit)."""
    return frozenset(p.requires for p in api_catalog() if p.key in keys)


def parse_list(text: str) -> frozenset[str]:
    """The permissions a command line names: comma-separated keys, or `all`."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    if ALL in names:
        return all_api_permissions()
    unknown = sorted(names - all_api_permissions())
    if unknown or not names:
        problem = (
            f"unknown permission{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(name) for name in unknown)}"
            if unknown
            else "none given"
        )
        raise ValidationError(
            {
                "permissions": f"{problem}. Give a comma-separated list of "
                f"{', '.join(p.key for p in api_catalog())}, or {ALL}."
            }
        )
    return frozenset(names)
