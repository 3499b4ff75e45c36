"""Schema 10: the workstation's sync state (issue #7).

- ``sync_state``: key/value facts of the connection (server URL, pinned
  fingerprint, practice and workstation ids, push and pull positions, last
  sync time and error).  The workstation token is not here: it lives in the
  OS keyring.
- ``sync_key``: the practice sync key (hex), inside the encrypted database.
- ``field_clock``: per field of a synced record, the hybrid logical clock
  stamp of a value applied from another workstation (local changes keep
  theirs in ``change_log``); ``field`` ``__deleted__`` marks a delete.
- ``sync_conflicts``: a field where two workstations disagreed, with the
  value that lost, kept visible until a user resolves it.
- ``sync_inbox``: the remote records already applied, so a record
  delivered twice changes nothing.
- an index on ``change_log`` by record, for the per-field merge.
"""

STATEMENTS = [
    """CREATE TABLE sync_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE sync_key (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE field_clock (
        id TEXT PRIMARY KEY,
        record_type TEXT NOT NULL,
        record_id TEXT NOT NULL,
        field TEXT NOT NULL,
        hlc TEXT NOT NULL
    )""",
    "CREATE INDEX field_clock_record ON field_clock(record_type, record_id)",
    """CREATE TABLE sync_conflicts (
        id TEXT PRIMARY KEY,
        record_type TEXT NOT NULL,
        record_id TEXT NOT NULL,
        field TEXT NOT NULL,
        kept_value TEXT,
        kept_hlc TEXT NOT NULL,
        lost_value TEXT,
        lost_hlc TEXT NOT NULL,
        lost_device TEXT NOT NULL,
        created_at TEXT NOT NULL,
        resolved_at TEXT,
        resolved_by TEXT
    )""",
    "CREATE INDEX sync_conflicts_open ON sync_conflicts(resolved_at, created_at)",
    """CREATE TABLE sync_inbox (
        id TEXT PRIMARY KEY,
        workstation_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hlc TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""",
    "CREATE INDEX change_log_record ON change_log(record_type, record_id)",
]
