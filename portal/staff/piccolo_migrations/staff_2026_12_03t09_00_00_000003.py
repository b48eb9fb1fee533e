from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T09:00:00:000003"
VERSION = "1.38.0"
DESCRIPTION = "Memberships in staff groups; the built-in groups of every company"

# Every company gets the built-in groups "Administrators" (every permission, none stored) and
# "Support" (reading clients, notes, Email Client); every existing membership joins its
# company's Administrators, which is what each staff member could do until now.
SUPPORT_PERMISSIONS = ("clients.view", "clients.notes", "clients.email")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    async def fill():
        await Table.raw(
            "ALTER TABLE staff_company ADD COLUMN staff_group INTEGER "
            "REFERENCES staff_group (id)"
        )
        await Table.raw("ALTER TABLE staff_company ADD COLUMN active BOOLEAN NOT NULL DEFAULT true")
        await Table.raw(
            "CREATE UNIQUE INDEX staff_group_company_name ON staff_group (company, lower(name))"
        )
        await Table.raw(
            "CREATE UNIQUE INDEX staff_group_permission_group_permission "
            "ON staff_group_permission (\"group\", permission)"
        )
        await Table.raw("CREATE INDEX staff_company_staff_group ON staff_company (staff_group)")
        for company in await Table.raw("SELECT id FROM company ORDER BY id"):
            await Table.raw(
                "INSERT INTO staff_group (company, name, builtin, created_at) "
                "VALUES ({}, 'Administrators', 'administrators', {}), ({}, 'Support', 'support', {})",
                company["id"],
                datetime.now(UTC),
                company["id"],
                datetime.now(UTC),
            )
            support = await Table.raw(
                "SELECT id FROM staff_group WHERE company = {} AND builtin = 'support'",
                company["id"],
            )
            for name in SUPPORT_PERMISSIONS:
                await Table.raw(
                    "INSERT INTO staff_group_permission (\"group\", permission) VALUES ({}, {})",
                    support[0]["id"],
                    name,
                )
        await Table.raw(
            "UPDATE staff_company SET staff_group = (SELECT g.id FROM staff_group g "
            "WHERE g.company = staff_company.company AND g.builtin = 'administrators')"
        )

    manager.add_raw(fill)
    return manager
