"""Schema 6: break-glass grants and their review queue.

A row is one emergency access: who, to which patient, why, until when, and
who reviewed it.  The reason is free text a user typed; it stays inside the
encrypted database and never enters the audit log.
"""

STATEMENTS = [
    """CREATE TABLE break_glass (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        reviewed_at TEXT,
        reviewed_by TEXT
    )""",
    "CREATE INDEX break_glass_grant ON break_glass(user_id, patient_id)",
    "CREATE INDEX break_glass_queue ON break_glass(reviewed_at)",
]
