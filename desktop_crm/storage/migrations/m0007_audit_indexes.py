"""Schema 7: a catalog for searching the audit log (issue #6).

The audit viewer and ``audit export`` filter by date, user, action and
patient.  Indexes on ``audit_log`` itself would be updated inside every
commit of the write path (four more pages per write); instead the catalog
is derived from the log and brought up to date when the log is searched
(``storage.audit.catch_up``).  It holds no more than the log does, and a
search re-checks every match against the log row itself.

- ``audit_catalog``: one row per entry: its time, user and action.
- ``audit_patients``: which patient each entry concerns (an entry about a
  merge concerns both patients; one about a document, appointment, message
  or reminder concerns the patient it belongs to).
"""

STATEMENTS = [
    """CREATE TABLE audit_catalog (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_id TEXT,
        action TEXT NOT NULL
    )""",
    "CREATE INDEX audit_catalog_at ON audit_catalog(at)",
    "CREATE INDEX audit_catalog_user ON audit_catalog(user_id)",
    "CREATE INDEX audit_catalog_action ON audit_catalog(action)",
    """CREATE TABLE audit_patients (
        patient_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (patient_id, seq)
    ) WITHOUT ROWID""",
]
