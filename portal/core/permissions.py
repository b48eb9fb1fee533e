"""What staff members and API keys may do: the permissions, by area, that staff groups grant.

A permission is a short key ("clients.delete"). Services check it on the actor of a change
(`Actor.require`), and the admin area's routes declare the one they need
(`@post(..., permission=CLIENTS_DELETE)`), so a forged request is refused whatever page it
came from. Plugins add their own (see `portal.plugins.Plugin.permissions`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    key: str
    area: str
    label: str


# What a user of a client account may not do while staff work as it (Login as Client).
AS_STAFF = "account.as-staff"

CLIENTS_VIEW = "clients.view"
CLIENTS_EDIT = "clients.edit"
CLIENTS_STATUS = "clients.status"
CLIENTS_DELETE = "clients.delete"
CLIENTS_NOTES = "clients.notes"
CLIENTS_EMAIL = "clients.email"
CLIENTS_LOGIN_AS = "clients.login_as"
CLIENTS_SECURITY = "clients.security"
CLIENTS_IMPORT = "clients.import"
CLIENTS_BULK = "clients.bulk"
CLIENTS_PRIVACY = "clients.privacy"
BILLING_MANAGE = "billing.manage"
CLIENT_GROUPS = "settings.client_groups"
COMPANY_SETTINGS = "settings.company"
STAFF_MANAGE = "settings.staff"
API_KEYS = "settings.api_keys"
WEBHOOKS = "settings.webhooks"
COMPANIES_ADD = "system.companies"
OUTBOX_READ = "tools.outbox"
ACTIVITY_READ = "tools.activity"

CORE_PERMISSIONS = (
    Permission(CLIENTS_VIEW, "Clients", "View clients, their profiles and history"),
    Permission(CLIENTS_EDIT, "Clients", "Add and edit clients"),
    Permission(CLIENTS_STATUS, "Clients", "Change a client's status"),
    Permission(CLIENTS_DELETE, "Clients", "Delete clients"),
    Permission(CLIENTS_NOTES, "Clients", "Add, edit and delete notes"),
    Permission(CLIENTS_EMAIL, "Clients", "Email a client"),
    Permission(CLIENTS_LOGIN_AS, "Clients", "Log in as a client"),
    Permission(
        CLIENTS_SECURITY,
        "Clients",
        "Reset a client user's two-factor sign-in and end a client's sessions",
    ),
    Permission(CLIENTS_IMPORT, "Clients", "Import clients"),
    Permission(CLIENTS_BULK, "Clients", "Act on many clients at once"),
    Permission(CLIENTS_PRIVACY, "Clients", "Export and anonymise clients' personal data"),
    Permission(BILLING_MANAGE, "Billing", "Add invoices, payments and services"),
    Permission(CLIENT_GROUPS, "Settings", "Client groups and custom client fields"),
    Permission(COMPANY_SETTINGS, "Settings", "Company settings (general, clients, billing)"),
    Permission(STAFF_MANAGE, "Settings", "Staff members and staff groups"),
    Permission(API_KEYS, "Settings", "API keys"),
    Permission(WEBHOOKS, "Settings", "Webhooks (where events go, their secrets and deliveries)"),
    Permission(COMPANIES_ADD, "Settings", "Add companies"),
    Permission(OUTBOX_READ, "Tools", "Read the outbox (without SMTP, it holds password links)"),
    Permission(ACTIVITY_READ, "Tools", "Read the activity log"),
)

# The built-in "Support" group of a new company: reading clients and talking to them.
SUPPORT_PERMISSIONS = (CLIENTS_VIEW, CLIENTS_NOTES, CLIENTS_EMAIL)


def catalog() -> list[Permission]:
    """Every permission there is: the core's, then the plugins'."""
    from portal import plugins  # the plugin registry imports this module

    return [*CORE_PERMISSIONS, *plugins.permissions()]


def all_permissions() -> frozenset[str]:
    return frozenset(permission.key for permission in catalog())


def by_area() -> list[tuple[str, list[Permission]]]:
    """The catalog grouped by area, in order: the rows of the permission matrix."""
    areas: dict[str, list[Permission]] = {}
    for permission in catalog():
        areas.setdefault(permission.area, []).append(permission)
    return list(areas.items())


def label_of(key: str) -> str:
    return next((p.label for p in catalog() if p.key == key), key)


class Forbidden(Exception):
    """The actor may not do this (403). Raised by services; routes need not catch it."""

    def __init__(self, permission: str):
        super().__init__(f"missing permission {permission}")
        self.permission = permission
