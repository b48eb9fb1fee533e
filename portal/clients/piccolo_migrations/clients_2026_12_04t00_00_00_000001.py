from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import Boolean, ForeignKey, Integer, Timestamptz, Varchar

from portal.core.migration_steps import add_columns, add_table, declared_reference_table

ID = "2026-12-04T00:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Users of client accounts, their memberships and invitations; contacts' logins"

Company = declared_reference_table("Company", "company")
Client = declared_reference_table("Client", "client")
AccountUser = declared_reference_table("AccountUser", "account_user")
Contact = declared_reference_table("Contact", "contact")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "AccountUser",
        "account_user",
        [
            ("company", ForeignKey, {"references": Company}),
            ("username", Varchar, {"length": 254}),
            ("email", Varchar, {"length": 254}),
            ("name", Varchar, {"length": 201}),
            ("password_hash", Varchar, {"null": True, "default": None}),
            ("language", Varchar, {"length": 16, "default": "en"}),
            ("session_epoch", Integer, {}),
            ("created_at", Timestamptz, {}),
            ("last_login_at", Timestamptz, {"null": True, "default": None}),
            ("last_login_ip", Varchar, {"length": 45, "null": True, "default": None}),
        ],
    )

    add_table(
        manager,
        "AccountMember",
        "account_member",
        [
            ("user", ForeignKey, {"references": AccountUser, "index": True}),
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("owner", Boolean, {}),
            ("permissions", Varchar, {}),
            ("created_at", Timestamptz, {}),
        ],
    )

    add_table(
        manager,
        "AccountInvitation",
        "account_invitation",
        [
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("email", Varchar, {"length": 254}),
            ("permissions", Varchar, {}),
            ("token_hash", Varchar, {"length": 64, "unique": True}),
            ("invited_by", Varchar, {"length": 201}),
            ("expires_at", Timestamptz, {}),
            ("used_at", Timestamptz, {"null": True, "default": None}),
            ("revoked_at", Timestamptz, {"null": True, "default": None}),
            ("created_at", Timestamptz, {}),
        ],
    )

    add_columns(
        manager,
        "Contact",
        "contact",
        [
            (
                "login",
                ForeignKey,
                {
                    "references": AccountUser,
                    "on_delete": OnDelete.set_null,
                    "null": True,
                    "default": None,
                    "index": True,
                },
            ),
            ("marketing_opt_in", Boolean, {}),
        ],
    )
    add_columns(
        manager,
        "ConsentEvent",
        "consent_event",
        [("contact", ForeignKey, {"references": Contact, "null": True, "default": None})],
    )

    return manager
