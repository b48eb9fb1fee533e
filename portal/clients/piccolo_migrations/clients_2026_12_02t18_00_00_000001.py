from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T18:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Derived data kept by the database: client counts, the client's country, the search queue"

# What every writer used to keep by hand, the database now keeps, whatever writes:
# - client_count and client_month_count follow every insert, delete and move of a client (its
#   company, group, country, status or creation month);
# - client.country follows the country of the client's primary contact;
# - client_search_pending gets the ID of every client whose search document may have changed
#   (its account, contacts, numbers, custom values, or a custom field's type or encryption);
#   the document itself is built in Python (Unicode folding, phone-number forms), by
#   portal.clients.search.index_pending, which every write transaction runs before it commits.
# The months' client-number bounds (first_number, last_number) go: Browse reads a creation-date
# range through the creation-date index within its targets without them (bench/RESULTS.md).

COMMON = [
    "ALTER TABLE client_month_count DROP COLUMN first_number",
    "ALTER TABLE client_month_count DROP COLUMN last_number",
]

SQLITE = [
    "CREATE TABLE client_search_pending (id INTEGER PRIMARY KEY, client INTEGER NOT NULL)",
    # Counts. Each trigger moves one client: out of its old key, into its new one.
    """CREATE TRIGGER client_counted_in AFTER INSERT ON client BEGIN
        INSERT INTO client_count (company, "group", country, status, clients)
        VALUES (NEW.company, NEW."group", NEW.country, NEW.status, 1)
        ON CONFLICT (company, "group", country, status) DO UPDATE SET clients = clients + 1;
        INSERT INTO client_month_count (company, month, "group", country, status, clients)
        VALUES (NEW.company, date(NEW.created_at, 'start of month'), NEW."group", NEW.country,
                NEW.status, 1)
        ON CONFLICT (company, month, "group", country, status)
        DO UPDATE SET clients = clients + 1;
    END""",
    """CREATE TRIGGER client_counted_out AFTER DELETE ON client BEGIN
        UPDATE client_count SET clients = clients - 1
        WHERE company = OLD.company AND "group" = OLD."group" AND country = OLD.country
        AND status = OLD.status;
        UPDATE client_month_count SET clients = clients - 1
        WHERE company = OLD.company AND month = date(OLD.created_at, 'start of month')
        AND "group" = OLD."group" AND country = OLD.country AND status = OLD.status;
    END""",
    """CREATE TRIGGER client_counted_again
    AFTER UPDATE OF company, "group", country, status, created_at ON client
    WHEN OLD.company IS NOT NEW.company OR OLD."group" IS NOT NEW."group"
      OR OLD.country IS NOT NEW.country OR OLD.status IS NOT NEW.status
      OR date(OLD.created_at, 'start of month') IS NOT date(NEW.created_at, 'start of month')
    BEGIN
        UPDATE client_count SET clients = clients - 1
        WHERE company = OLD.company AND "group" = OLD."group" AND country = OLD.country
        AND status = OLD.status;
        UPDATE client_month_count SET clients = clients - 1
        WHERE company = OLD.company AND month = date(OLD.created_at, 'start of month')
        AND "group" = OLD."group" AND country = OLD.country AND status = OLD.status;
        INSERT INTO client_count (company, "group", country, status, clients)
        VALUES (NEW.company, NEW."group", NEW.country, NEW.status, 1)
        ON CONFLICT (company, "group", country, status) DO UPDATE SET clients = clients + 1;
        INSERT INTO client_month_count (company, month, "group", country, status, clients)
        VALUES (NEW.company, date(NEW.created_at, 'start of month'), NEW."group", NEW.country,
                NEW.status, 1)
        ON CONFLICT (company, month, "group", country, status)
        DO UPDATE SET clients = clients + 1;
    END""",
    # The client's copy of its primary contact's country.
    """CREATE TRIGGER client_country_in AFTER INSERT ON contact
    WHEN NEW.contact_type = 'primary' BEGIN
        UPDATE client SET country = NEW.country WHERE id = NEW.client AND country <> NEW.country;
    END""",
    """CREATE TRIGGER client_country_again AFTER UPDATE OF country, contact_type ON contact
    WHEN NEW.contact_type = 'primary' BEGIN
        UPDATE client SET country = NEW.country WHERE id = NEW.client AND country <> NEW.country;
    END""",
    # The search queue.
    """CREATE TRIGGER client_search_account AFTER UPDATE OF code, username, company ON client
    BEGIN INSERT INTO client_search_pending (client) VALUES (NEW.id); END""",
    """CREATE TRIGGER client_search_contact_in AFTER INSERT ON contact
    BEGIN INSERT INTO client_search_pending (client) VALUES (NEW.client); END""",
    """CREATE TRIGGER client_search_contact_again AFTER UPDATE ON contact
    BEGIN INSERT INTO client_search_pending (client) VALUES (OLD.client), (NEW.client); END""",
    """CREATE TRIGGER client_search_contact_out AFTER DELETE ON contact
    BEGIN INSERT INTO client_search_pending (client) VALUES (OLD.client); END""",
    """CREATE TRIGGER client_search_number_in AFTER INSERT ON contact_number BEGIN
        INSERT INTO client_search_pending (client) SELECT client FROM contact WHERE id = NEW.contact;
    END""",
    """CREATE TRIGGER client_search_number_again AFTER UPDATE ON contact_number BEGIN
        INSERT INTO client_search_pending (client)
        SELECT client FROM contact WHERE id IN (OLD.contact, NEW.contact);
    END""",
    """CREATE TRIGGER client_search_number_out AFTER DELETE ON contact_number BEGIN
        INSERT INTO client_search_pending (client) SELECT client FROM contact WHERE id = OLD.contact;
    END""",
    """CREATE TRIGGER client_search_value_in AFTER INSERT ON custom_field_value
    BEGIN INSERT INTO client_search_pending (client) VALUES (NEW.client); END""",
    """CREATE TRIGGER client_search_value_again AFTER UPDATE ON custom_field_value
    BEGIN INSERT INTO client_search_pending (client) VALUES (OLD.client), (NEW.client); END""",
    """CREATE TRIGGER client_search_value_out AFTER DELETE ON custom_field_value
    BEGIN INSERT INTO client_search_pending (client) VALUES (OLD.client); END""",
    """CREATE TRIGGER client_search_field AFTER UPDATE OF encrypted, field_type ON custom_field
    BEGIN
        INSERT INTO client_search_pending (client)
        SELECT client FROM custom_field_value WHERE field = NEW.id;
    END""",
]

POSTGRES = [
    "CREATE TABLE client_search_pending (id SERIAL PRIMARY KEY, client INTEGER NOT NULL)",
    # Counts: one statement's clients at once, and the count rows in key order, so that two
    # writers lock them in the same order (no deadlock between them).
    """CREATE TYPE client_count_change AS (
        company integer, "group" integer, country varchar, status varchar,
        created_at timestamptz, clients integer)""",
    """CREATE FUNCTION count_clients(changes client_count_change[]) RETURNS void
    LANGUAGE sql AS $$
        INSERT INTO client_count (company, "group", country, status, clients)
        SELECT c.company, c."group", c.country, c.status, sum(c.clients)
        FROM unnest(changes) c
        WHERE EXISTS (SELECT 1 FROM client_group g WHERE g.id = c."group")
        GROUP BY 1, 2, 3, 4 HAVING sum(c.clients) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (company, "group", country, status)
        DO UPDATE SET clients = client_count.clients + excluded.clients;
        INSERT INTO client_month_count (company, month, "group", country, status, clients)
        SELECT c.company, date_trunc('month', c.created_at AT TIME ZONE 'UTC')::date,
               c."group", c.country, c.status, sum(c.clients)
        FROM unnest(changes) c
        WHERE EXISTS (SELECT 1 FROM client_group g WHERE g.id = c."group")
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(c.clients) <> 0 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (company, month, "group", country, status)
        DO UPDATE SET clients = client_month_count.clients + excluded.clients;
    $$""",
    """CREATE FUNCTION client_counted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM count_clients(ARRAY(SELECT ROW(company, "group", country, status,
                created_at, 1)::client_count_change FROM new_rows));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM count_clients(ARRAY(SELECT ROW(company, "group", country, status,
                created_at, -1)::client_count_change FROM old_rows));
        ELSE
            PERFORM count_clients(ARRAY(
                SELECT ROW(company, "group", country, status, created_at, -1)::client_count_change
                FROM old_rows
                UNION ALL
                SELECT ROW(company, "group", country, status, created_at, 1)::client_count_change
                FROM new_rows));
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER client_counted_in AFTER INSERT ON client REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_counted()",
    "CREATE TRIGGER client_counted_out AFTER DELETE ON client REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_counted()",
    "CREATE TRIGGER client_counted_again AFTER UPDATE ON client "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_counted()",
    # The client's copy of its primary contact's country.
    """CREATE FUNCTION client_country_from_contact() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE client c SET country = n.country FROM new_rows n
        WHERE n.client = c.id AND n.contact_type = 'primary' AND c.country <> n.country;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER client_country_in AFTER INSERT ON contact REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_country_from_contact()",
    "CREATE TRIGGER client_country_again AFTER UPDATE ON contact "
    "REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_country_from_contact()",
    # The search queue. TG_ARGV[0] names how a row of the table leads to its client.
    """CREATE FUNCTION client_search_stale() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_ARGV[0] = 'account' THEN
            INSERT INTO client_search_pending (client)
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.code, n.username, n.company) IS DISTINCT FROM (o.code, o.username, o.company);
        ELSIF TG_ARGV[0] = 'field' THEN
            INSERT INTO client_search_pending (client)
            SELECT v.client FROM new_rows n JOIN old_rows o ON o.id = n.id
            JOIN custom_field_value v ON v.field = n.id
            WHERE (n.encrypted, n.field_type) IS DISTINCT FROM (o.encrypted, o.field_type);
        ELSIF TG_ARGV[0] = 'number' THEN
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO client_search_pending (client)
                SELECT DISTINCT ct.client FROM new_rows n JOIN contact ct ON ct.id = n.contact;
            END IF;
            IF TG_OP <> 'INSERT' THEN
                INSERT INTO client_search_pending (client)
                SELECT DISTINCT ct.client FROM old_rows o JOIN contact ct ON ct.id = o.contact;
            END IF;
        ELSE
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO client_search_pending (client) SELECT DISTINCT client FROM new_rows;
            END IF;
            IF TG_OP <> 'INSERT' THEN
                INSERT INTO client_search_pending (client) SELECT DISTINCT client FROM old_rows;
            END IF;
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER client_search_account AFTER UPDATE ON client "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('account')",
    "CREATE TRIGGER client_search_field AFTER UPDATE ON custom_field "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('field')",
]
for table, kind in (("contact", "contact"), ("contact_number", "number")):
    POSTGRES += [
        f"CREATE TRIGGER client_search_{kind}_in AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('{kind}')",
        f"CREATE TRIGGER client_search_{kind}_again AFTER UPDATE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('{kind}')",
        f"CREATE TRIGGER client_search_{kind}_out AFTER DELETE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('{kind}')",
    ]
POSTGRES += [
    "CREATE TRIGGER client_search_value_in AFTER INSERT ON custom_field_value "
    "REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('value')",
    "CREATE TRIGGER client_search_value_again AFTER UPDATE ON custom_field_value "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('value')",
    "CREATE TRIGGER client_search_value_out AFTER DELETE ON custom_field_value "
    "REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION client_search_stale('value')",
]

MONTH = {
    "sqlite": "date(created_at, 'start of month')",
    "postgres": "date_trunc('month', created_at AT TIME ZONE 'UTC')::date",
}
# The counts and the countries as they are now, from scratch (the triggers keep them from
# here on); clients without a search document are queued for one.
RECOUNT = [
    "UPDATE client SET country = coalesce((SELECT ct.country FROM contact ct "
    "WHERE ct.client = client.id AND ct.contact_type = 'primary'), '')",
    "DELETE FROM client_count",
    'INSERT INTO client_count (company, "group", country, status, clients) '
    'SELECT company, "group", country, status, count(*) FROM client '
    'GROUP BY company, "group", country, status',
    "DELETE FROM client_month_count",
    'INSERT INTO client_month_count (company, month, "group", country, status, clients) '
    'SELECT company, {month}, "group", country, status, count(*) FROM client '
    'GROUP BY company, {month}, "group", country, status',
    "INSERT INTO client_search_pending (client) SELECT id FROM client "
    "WHERE id NOT IN (SELECT client FROM client_search)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    async def run():
        engine_type = Table._meta.db.engine_type
        for statement in COMMON + (SQLITE if engine_type == "sqlite" else POSTGRES):
            await Table.raw(statement)
        for statement in RECOUNT:
            await Table.raw(statement.replace("{month}", MONTH[engine_type]))

    manager.add_raw(run)
    return manager
