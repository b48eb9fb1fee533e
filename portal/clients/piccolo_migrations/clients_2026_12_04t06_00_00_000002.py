from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-04T06:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "Verified email addresses of client-area users; an email change unverifies"

# account_user.email_verified_at: when the user last proved the address is theirs (a link sent
# to it was used, or an invitation mailed to it was accepted); NULL while it is unproven.
#
# The rule "every change of the address makes it unverified" is the database's, so that no
# writer (client form, contact form, API, a shell) can forget it: an update that changes the
# email (compared case-insensitively) sets email_verified_at back to NULL, whatever else the
# statement sets. PostgreSQL: a BEFORE trigger changes the row being written; SQLite has no
# such triggers, so an AFTER trigger updates the row again (recursive triggers are off, and it
# does not touch the email, so it does not fire itself). SQLite's lower() folds ASCII only.
#
# Users that exist now count as verified (from this migration on). Verification is a group
# setting that starts off; when staff turn it on, the addresses clients have used until now
# (registration mail, resets, invoices) should not all be questioned at once: every user
# would see the banner and the mass mailer would drop every existing address from marketing
# mail overnight. What it guards from then on is new users and changed addresses.
STATEMENTS = [
    "ALTER TABLE account_user ADD COLUMN email_verified_at TIMESTAMPTZ NULL DEFAULT NULL",
    "UPDATE account_user SET email_verified_at = {}",
]

SQLITE = [
    """CREATE TRIGGER account_user_email_unverified AFTER UPDATE OF email ON account_user
    WHEN lower(NEW.email) IS NOT lower(OLD.email) BEGIN
        UPDATE account_user SET email_verified_at = NULL WHERE id = NEW.id;
    END""",
]

POSTGRES = [
    """CREATE OR REPLACE FUNCTION account_user_email_unverified() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.email_verified_at := NULL;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER account_user_email_unverified BEFORE UPDATE OF email ON account_user "
    "FOR EACH ROW WHEN (lower(NEW.email) IS DISTINCT FROM lower(OLD.email)) "
    "EXECUTE FUNCTION account_user_email_unverified()",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    async def run():
        engine_type = Table._meta.db.engine_type
        await Table.raw(STATEMENTS[0])
        await Table.raw(STATEMENTS[1], datetime.now(UTC))
        for statement in SQLITE if engine_type == "sqlite" else POSTGRES:
            await Table.raw(statement)

    manager.add_raw(run)
    return manager
