"""The ledger's schema, as sqlite-utils migrations.

Public interface (CONTRACT §5), stable for other programs on the machine:
``customers(id, name, email, phone, ref)`` and
``entries(id, customer_id, amount_minor, description, posted_at)``. Every
other column has a default, so ``INSERT INTO entries (customer_id,
amount_minor, description, posted_at)`` works from any program, and the
triggers below notice it.
"""

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

NOW_UTC = "(strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"

migrations = Migrations("paylink")


@migrations()
def m001_ledger(db: Database) -> None:
    """Customers, the append-only entries, links, and the page bookkeeping."""
    _execute_each(
        db,
        f"""
        CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT,
            phone TEXT,
            ref TEXT UNIQUE,
            created_at TEXT NOT NULL DEFAULT {NOW_UTC}
        );

        CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            amount_minor INTEGER NOT NULL,
            description TEXT NOT NULL,
            posted_at TEXT NOT NULL DEFAULT {NOW_UTC},
            voids_entry_id INTEGER REFERENCES entries(id),
            idempotency_key TEXT
        );
        -- Partial indexes: most entries have neither, and a bulk import should not
        -- maintain two indexes of NULLs (they were a third of the insert cost).
        CREATE UNIQUE INDEX entries_idempotency ON entries(customer_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE UNIQUE INDEX entries_voids ON entries(voids_entry_id) WHERE voids_entry_id IS NOT NULL;
        -- A customer's balance and newest entries come from this index alone. Time is
        -- compared as julianday(), not text: other programs may write posted_at as
        -- "2026-01-15 12:00:00" or with "+00:00", which sort wrongly as strings.
        CREATE INDEX entries_by_customer ON entries(customer_id, julianday(posted_at), id, amount_minor);

        -- Entries are never edited or deleted, by paylink or by anyone: a mistake is voided.
        CREATE TRIGGER entries_refuse_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'entries are append-only: post a void instead of editing'); END;
        CREATE TRIGGER entries_refuse_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'entries are append-only: post a void instead of deleting'); END;

        -- One row per link ever issued. `nonce` is the random part of the token;
        -- `snapshot` the page's file name in build/p (a digest of the nonce).
        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            nonce TEXT NOT NULL UNIQUE,
            snapshot TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL DEFAULT {NOW_UTC},
            retired_at TEXT,
            retired_because TEXT CHECK (retired_because IN ('rotated', 'revoked'))
        );
        CREATE UNIQUE INDEX links_live ON links(customer_id) WHERE retired_at IS NULL;

        -- Work for the page writer, recorded by triggers in the same transaction
        -- as the change, whichever program made it; drained by `paylink build`.
        CREATE TABLE pending_pages (customer_id INTEGER PRIMARY KEY);
        CREATE TABLE retired_snapshots (snapshot TEXT PRIMARY KEY);
        CREATE TABLE build_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TRIGGER entries_mark_page AFTER INSERT ON entries
        BEGIN INSERT OR IGNORE INTO pending_pages VALUES (NEW.customer_id); END;
        CREATE TRIGGER customers_mark_page AFTER UPDATE ON customers
        BEGIN INSERT OR IGNORE INTO pending_pages VALUES (NEW.id); END;
        CREATE TRIGGER links_mark_page AFTER INSERT ON links
        BEGIN INSERT OR IGNORE INTO pending_pages VALUES (NEW.customer_id); END;
        CREATE TRIGGER links_retire AFTER UPDATE OF retired_at ON links
        WHEN OLD.retired_at IS NULL AND NEW.retired_at IS NOT NULL
        BEGIN INSERT OR IGNORE INTO retired_snapshots VALUES (OLD.snapshot); END;
        CREATE TRIGGER links_delete AFTER DELETE ON links
        BEGIN INSERT OR IGNORE INTO retired_snapshots VALUES (OLD.snapshot); END;
        """,
    )


@migrations()
def m002_version_two(db: Database) -> None:
    """Version 2: customers' language, refs unique without regard to case, imports
    remembered, the publish bookkeeping, and the database refusing entries it could not show."""
    _execute_each(
        db,
        f"""
        ALTER TABLE customers ADD COLUMN language TEXT;
        -- Refs are matched without regard to case (`charge jane` is JANE), so they are unique that way too.
        CREATE UNIQUE INDEX customers_ref_nocase ON customers(ref COLLATE NOCASE) WHERE ref IS NOT NULL;

        -- Each imported entries file, by the SHA-256 of its exact bytes: a second import is refused.
        CREATE TABLE imported_files (
            digest TEXT PRIMARY KEY,
            file_name TEXT NOT NULL,
            rows INTEGER NOT NULL,
            imported_at TEXT NOT NULL DEFAULT {NOW_UTC}
        );

        -- What the `publish` store holds (object name under the prefix -> SHA-256 of its bytes),
        -- and the names whose upload or deletion is still to do.
        CREATE TABLE published (name TEXT PRIMARY KEY, digest TEXT NOT NULL);
        CREATE TABLE publish_queue (name TEXT PRIMARY KEY);

        -- Another program's entry must name a customer that exists and a time paylink can show.
        CREATE TRIGGER entries_refuse_orphan BEFORE INSERT ON entries
        WHEN NOT EXISTS (SELECT 1 FROM customers WHERE id = NEW.customer_id)
        BEGIN SELECT RAISE(ABORT, 'entries.customer_id names no customer'); END;
        CREATE TRIGGER entries_refuse_bad_time BEFORE INSERT ON entries
        WHEN julianday(NEW.posted_at) IS NULL
          OR NEW.posted_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]*'
        BEGIN SELECT RAISE(ABORT, 'entries.posted_at must be an ISO 8601 time, e.g. 2026-11-20T15:04:05Z'); END;
        """,
    )


@migrations()
def m003_import_rows_and_merges(db: Database) -> None:
    """Each import of an entries file and a fingerprint of every row it posted (so a later import sees
    rows posted before), and customers merged into another."""
    _execute_each(
        db,
        f"""
        -- One row per import of an entries file (a file imported again with --again is a new import).
        CREATE TABLE entry_imports (
            id INTEGER PRIMARY KEY,
            file_name TEXT NOT NULL,
            imported_at TEXT NOT NULL DEFAULT {NOW_UTC}
        );
        -- A 64-bit digest of (customer, signed amount, local date, description) of each row an import
        -- posted, once per import. No foreign key: a million rows pay for no per-row check, and
        -- import_id is written only by the import that made its entry_imports row.
        CREATE TABLE imported_rows (
            fingerprint INTEGER NOT NULL,
            import_id INTEGER NOT NULL,
            PRIMARY KEY (fingerprint, import_id)
        ) WITHOUT ROWID;

        -- A customer merged into another (`customer merge FROM INTO`): hidden from `customer list`.
        CREATE TABLE merged_customers (
            customer_id INTEGER PRIMARY KEY REFERENCES customers(id),
            into_id INTEGER NOT NULL REFERENCES customers(id),
            merged_at TEXT NOT NULL DEFAULT {NOW_UTC}
        );
        """,
    )


@migrations()
def m004_payments(db: Database) -> None:
    """Payments imported from a payment service or bank (`import payments`): each transaction once."""
    _execute_each(
        db,
        f"""
        -- A payment is posted once, whatever file brings it: its service (paypal, venmo, stripe,
        -- bank:IBAN, plain) and that service's transaction id, with the credit it became.
        CREATE TABLE imported_payments (
            service TEXT NOT NULL,
            payment_id TEXT NOT NULL,
            entry_id INTEGER NOT NULL REFERENCES entries(id),
            imported_at TEXT NOT NULL DEFAULT {NOW_UTC},
            PRIMARY KEY (service, payment_id)
        );
        """,
    )


@migrations()
def m005_reminders(db: Database) -> None:
    """Reminders: each customer's consent per channel (append-only, newest row current) and each send."""
    _execute_each(
        db,
        f"""
        -- Who agreed to reminders on which channels, and when; a customer who stops gets a
        -- row with no channels. Never updated: the history of consent is kept whole.
        CREATE TABLE reminder_consents (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
            channels TEXT NOT NULL CHECK (channels IN ('', 'email', 'sms', 'email,sms')),
            given_at TEXT NOT NULL DEFAULT {NOW_UTC}
        );
        CREATE INDEX reminder_consents_by_customer ON reminder_consents(customer_id, id);
        CREATE TRIGGER reminder_consents_refuse_update BEFORE UPDATE ON reminder_consents
        BEGIN SELECT RAISE(ABORT, 'reminder consents are append-only: add a newer row'); END;

        -- One row per reminder paylink set out to send, committed before it goes out
        -- ('sending') and marked once the server accepted it ('sent') or refused it ('failed').
        -- `day` is the site's local date: one reminder a customer, channel and day, whatever
        -- was killed when; a failed send does not count and is tried again.
        CREATE TABLE reminders (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
            channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
            day TEXT NOT NULL,
            sent_to TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
            error TEXT,
            started_at TEXT NOT NULL DEFAULT {NOW_UTC},
            finished_at TEXT
        );
        CREATE UNIQUE INDEX reminders_once_a_day ON reminders(customer_id, channel, day)
            WHERE status IN ('sending', 'sent');
        CREATE INDEX reminders_by_customer ON reminders(customer_id, channel, started_at);
        """,
    )


def _execute_each(db: Database, script: str) -> None:
    """Run a script statement by statement.

    ``executescript`` would COMMIT the caller's transaction first; a migration
    must stay inside it so the schema and its record land together.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement[:60]!r}")


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations inside the caller's write transaction; return how many are applied in all.

    The caller (storage.connect) records that number as the ledger's ``user_version``.
    """
    db = Database(conn, execute_plugins=False, recursive_triggers=False)
    migrations.apply(db)
    return len(migrations.applied(db))
