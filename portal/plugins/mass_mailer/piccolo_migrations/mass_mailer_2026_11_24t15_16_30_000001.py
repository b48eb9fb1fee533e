from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T15:16:30:000001"
VERSION = "1.38.0"
DESCRIPTION = "mass mailer indexes: one row per address and job, claims, suppressions"

# Indexes Piccolo's column options cannot express (multi-column). Written as SQL that SQLite
# and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX mailer_recipient_job_email ON mailer_recipient (job, email)",
    "CREATE INDEX mailer_recipient_job_status ON mailer_recipient (job, status, id)",
    "CREATE UNIQUE INDEX mailer_suppression_company_email ON mailer_suppression (company, email)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="mass_mailer", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
