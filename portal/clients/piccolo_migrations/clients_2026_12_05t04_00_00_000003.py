from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql_per_engine

ID = "2026-12-05T04:00:00:000003"
VERSION = "1.38.0"
DESCRIPTION = "Every consent record emits its event (consent.granted or consent.withdrawn)"

# The consent log has writers in several places (Add Client and imports, Edit Client, the
# client area, contacts, the mass mailer's unsubscribe links, demo data) and will have more
# (erasure). So the event is the database's: an insert into consent_event writes a
# consent.granted or consent.withdrawn event into the outbox (the events app's table) in the
# same transaction, whoever inserts. The data names the client (ID and client ID), the contact
# when the consent is a billing or other contact's own, and the source.
SQLITE = [
    """CREATE TRIGGER consent_event_emits AFTER INSERT ON consent_event BEGIN
        INSERT INTO event (company, event_type, data, created_at)
        SELECT c.company,
            CASE WHEN NEW.opted_in THEN 'consent.granted' ELSE 'consent.withdrawn' END,
            json_object(
                'client', json_object('id', c.id, 'code', c.code),
                'contact',
                CASE WHEN NEW.contact IS NULL THEN NULL ELSE json_object('id', NEW.contact) END,
                'source', NEW.source),
            strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
        FROM client c WHERE c.id = NEW.client;
    END""",
]

POSTGRES = [
    """CREATE OR REPLACE FUNCTION consent_event_emits() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO event (company, event_type, data, created_at)
        SELECT c.company,
            CASE WHEN NEW.opted_in THEN 'consent.granted' ELSE 'consent.withdrawn' END,
            json_build_object(
                'client', json_build_object('id', c.id, 'code', c.code),
                'contact',
                CASE WHEN NEW.contact IS NULL THEN NULL
                ELSE json_build_object('id', NEW.contact) END,
                'source', NEW.source)::text,
            now()
        FROM client c WHERE c.id = NEW.client;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER consent_event_emits AFTER INSERT ON consent_event "
    "FOR EACH ROW EXECUTE FUNCTION consent_event_emits()",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql_per_engine(manager, sqlite=SQLITE, postgres=POSTGRES)
    return manager
