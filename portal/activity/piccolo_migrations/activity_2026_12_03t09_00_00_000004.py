from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-12-03T09:00:00:000004"
VERSION = "1.38.0"
DESCRIPTION = "Indexes of the activity log"

# The log is read newest first, by company, and filtered by kind, staff member or client.
INDEXES = [
    "CREATE INDEX activity_event_company ON activity_event (company, id)",
    "CREATE INDEX activity_event_company_kind ON activity_event (company, kind, id)",
    "CREATE INDEX activity_event_company_staff ON activity_event (company, staff_id, id)",
    "CREATE INDEX activity_event_company_client ON activity_event (company, client_id, id)",
    "CREATE INDEX activity_event_company_at ON activity_event (company, at)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="activity", description=DESCRIPTION)

    add_sql(manager, INDEXES)
    return manager
