from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql_per_engine

ID = "2026-12-07T00:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "PostgreSQL: the search index's pending list is kept short; more samples of documents"

POSTGRES = [
    # New entries of a GIN index wait in a pending list (4 MB by default) that every search
    # reads through until a vacuum merges it: a quarter of a megabyte bounds that read.
    "ALTER INDEX client_search_fts_trgm SET (gin_pending_list_limit = 256)",
    "SELECT gin_clean_pending_list('client_search_fts_trgm')",
    # The planner estimates how many documents a LIKE '%…%' pattern matches by trying it on
    # the column's samples: with the default 100 a common name's estimate is off threefold,
    # enough to prefer a scan of every document to the trigram index.
    "ALTER TABLE client_search ALTER COLUMN document SET STATISTICS 1000",
    "ANALYZE client_search",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql_per_engine(manager, sqlite=[], postgres=POSTGRES)
    return manager
