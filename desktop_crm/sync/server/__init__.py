"""The sync server (issue #7): stores a practice's encrypted changes and blobs.

It holds no patient data and no SQLCipher: ciphertext and routing facts only,
in SQLite (stdlib sqlite3) or PostgreSQL (psycopg 3).  See
docs/sync-protocol.md and docs/admin-guide.md ("Running the sync server").
"""

from __future__ import annotations

from desktop_crm.sync.server.api import ServerConfig
from desktop_crm.sync.server.httpd import SyncServer, tls_context
from desktop_crm.sync.server.store import PostgresStore, SQLiteStore, Store, open_store

__all__ = [
    "PostgresStore",
    "SQLiteStore",
    "ServerConfig",
    "Store",
    "SyncServer",
    "open_store",
    "tls_context",
]
