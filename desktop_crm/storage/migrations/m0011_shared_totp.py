"""Schema 11: users' TOTP secrets shared between a practice's workstations (#7).

``user_totp`` holds, per user, their TOTP secret sealed under a subkey of the
practice sync key (``crypto.sync_keys.seal_totp_secret``).  It syncs like any
record, so one authenticator entry opens the user's slot on every
workstation of the practice.  A vault that is not connected to a sync server
leaves it empty: there the secret lives only in the user's key slot.
"""

STATEMENTS = [
    """CREATE TABLE user_totp (
        id TEXT PRIMARY KEY,
        sealed TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID""",
]
