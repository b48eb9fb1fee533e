from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-12-03T14:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Indexes of the activity log, for every filter with or without dates"

# The log is read newest first (at, then id) by company, filtered by any of kind, staff member
# and client, and by a date range. Each index ends with (at, id): a filter alone or with dates
# reads its lines in order, from the first of the range, and stops at the page. A staff member's
# lines of one kind have their own index (a kind may be rare among someone's many lines); a
# client's lines are few, so with a client the other filters are checked on them.
STATEMENTS = [
    "DROP INDEX activity_event_company",
    "DROP INDEX activity_event_company_kind",
    "DROP INDEX activity_event_company_staff",
    "DROP INDEX activity_event_company_client",
    "DROP INDEX activity_event_company_at",
    "CREATE INDEX activity_event_company_at ON activity_event (company, at, id)",
    "CREATE INDEX activity_event_company_kind ON activity_event (company, kind, at, id)",
    "CREATE INDEX activity_event_company_staff ON activity_event (company, staff_id, at, id)",
    "CREATE INDEX activity_event_company_staff_kind "
    "ON activity_event (company, staff_id, kind, at, id)",
    "CREATE INDEX activity_event_company_client ON activity_event (company, client_id, at, id)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="activity", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
