from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql, add_sql_per_engine

ID = "2026-12-06T00:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "The database keeps open_invoice_total"

# The dashboard's overdue figures summed every open invoice past its due date (tens of
# thousands of rows at 100,000 clients). open_invoice_total holds those sums per company,
# currency and due date, a few hundred rows a company, kept by triggers on invoice so that
# every writer (invoices, payments, imports, deletes, raw SQL) keeps it. Rows that come back to
# zero stay: at most one per due date and currency.
COMMON = [
    "CREATE UNIQUE INDEX open_invoice_total_key "
    "ON open_invoice_total (company, currency, date_due)",
    "INSERT INTO open_invoice_total (company, currency, date_due, amount, invoices) "
    "SELECT company, currency, date_due, sum(total - amount_paid), count(*) FROM invoice "
    "WHERE status = 'open' GROUP BY company, currency, date_due",
    "DROP INDEX invoice_open_due",
]

SQLITE = [
    """CREATE TRIGGER open_invoice_in AFTER INSERT ON invoice WHEN NEW.status = 'open' BEGIN
        INSERT INTO open_invoice_total (company, currency, date_due, amount, invoices)
        VALUES (NEW.company, NEW.currency, NEW.date_due, NEW.total - NEW.amount_paid, 1)
        ON CONFLICT (company, currency, date_due)
        DO UPDATE SET amount = amount + excluded.amount, invoices = invoices + 1;
    END""",
    """CREATE TRIGGER open_invoice_out AFTER DELETE ON invoice WHEN OLD.status = 'open' BEGIN
        UPDATE open_invoice_total
        SET amount = amount - (OLD.total - OLD.amount_paid), invoices = invoices - 1
        WHERE company = OLD.company AND currency = OLD.currency AND date_due = OLD.date_due;
    END""",
    """CREATE TRIGGER open_invoice_again
    AFTER UPDATE OF company, currency, date_due, status, total, amount_paid ON invoice
    WHEN OLD.status = 'open' OR NEW.status = 'open' BEGIN
        UPDATE open_invoice_total
        SET amount = amount - (OLD.total - OLD.amount_paid), invoices = invoices - 1
        WHERE OLD.status = 'open' AND company = OLD.company AND currency = OLD.currency
        AND date_due = OLD.date_due;
        INSERT INTO open_invoice_total (company, currency, date_due, amount, invoices)
        SELECT NEW.company, NEW.currency, NEW.date_due, NEW.total - NEW.amount_paid, 1
        WHERE NEW.status = 'open'
        ON CONFLICT (company, currency, date_due)
        DO UPDATE SET amount = amount + excluded.amount, invoices = invoices + 1;
    END""",
]

POSTGRES = [
    # One statement's invoices at once, the rows in key order (two writers lock them in the
    # same order); none for a company being deleted (its rows go with it).
    """CREATE TYPE open_invoice_change AS (
        company integer, currency varchar, date_due date, amount bigint, invoices integer)""",
    """CREATE FUNCTION total_open_invoices(changes open_invoice_change[]) RETURNS void
    LANGUAGE sql AS $$
        INSERT INTO open_invoice_total (company, currency, date_due, amount, invoices)
        SELECT c.company, c.currency, c.date_due, sum(c.amount), sum(c.invoices)
        FROM unnest(changes) c
        WHERE EXISTS (SELECT 1 FROM company k WHERE k.id = c.company)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (company, currency, date_due)
        DO UPDATE SET amount = open_invoice_total.amount + excluded.amount,
                      invoices = open_invoice_total.invoices + excluded.invoices;
    $$""",
    """CREATE FUNCTION open_invoices_totalled() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM total_open_invoices(ARRAY(SELECT ROW(company, currency, date_due,
                total - amount_paid, 1)::open_invoice_change FROM new_rows
                WHERE status = 'open'));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM total_open_invoices(ARRAY(SELECT ROW(company, currency, date_due,
                amount_paid - total, -1)::open_invoice_change FROM old_rows
                WHERE status = 'open'));
        ELSE
            PERFORM total_open_invoices(ARRAY(
                SELECT ROW(company, currency, date_due, amount_paid - total,
                    -1)::open_invoice_change FROM old_rows WHERE status = 'open'
                UNION ALL
                SELECT ROW(company, currency, date_due, total - amount_paid,
                    1)::open_invoice_change FROM new_rows WHERE status = 'open'));
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER open_invoices_in AFTER INSERT ON invoice REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION open_invoices_totalled()",
    "CREATE TRIGGER open_invoices_out AFTER DELETE ON invoice REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION open_invoices_totalled()",
    "CREATE TRIGGER open_invoices_again AFTER UPDATE ON invoice "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION open_invoices_totalled()",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    add_sql(manager, COMMON)
    add_sql_per_engine(manager, sqlite=SQLITE, postgres=POSTGRES)
    return manager
