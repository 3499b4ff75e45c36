"""Schema 2: replay protection, last unlock, and quick re-unlock grants."""

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN last_totp_step INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE users ADD COLUMN last_unlock_at TEXT",
    """CREATE TABLE unlock_grants (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        workstation TEXT NOT NULL,
        granted_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
]
