from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql_per_engine

ID = "2026-12-07T00:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "PostgreSQL samples more search documents; the trigram index's pending list is merged"

POSTGRES = [
    # The planner estimates how many documents a LIKE '%…%' pattern matches by trying it on
    # the column's samples: with the default 100 a common name's estimate is off threefold,
    # enough to prefer a scan of every document to the trigram index.
    "ALTER TABLE client_search ALTER COLUMN document SET STATISTICS 1000",
    "ANALYZE client_search",
    # New entries of a GIN index wait in a pending list that every search reads through (see
    # PortalPostgresEngine.start_connection_pool): what earlier writes left there is merged.
    "SELECT gin_clean_pending_list('client_search_fts_trgm')",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql_per_engine(manager, sqlite=[], postgres=POSTGRES)
    return manager
