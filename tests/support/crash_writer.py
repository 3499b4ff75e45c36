"""Child process for the crash-consistency test: writes patients until killed.

Reads the database key (hex) from stdin, then commits one patient per write
path call and prints its id after each commit returns.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from desktop_crm.storage.database import open_database
from desktop_crm.storage.hlc import HybridLogicalClock
from desktop_crm.storage.writepath import Actor, AuditEvent, Mutation, commit


def main() -> None:
    path = Path(sys.argv[1])
    key = bytes.fromhex(sys.stdin.readline().strip())
    db = open_database(path, key)
    actor = Actor(None, "crash-test", HybridLogicalClock("crash-test", lambda: 0))
    serial = 0
    while True:
        serial += 1
        patient_id = str(uuid.uuid4())
        row = {
            "mrn": f"C{patient_id}",
            "family": f"Crash{serial}",
            "given": "Test",
            "notes": "x" * (serial % 7 * 500),
            "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00",
        }
        commit(
            db,
            actor,
            AuditEvent("patient.create", "patient", patient_id),
            [Mutation("patients", patient_id, "insert", row)],
        )
        sys.stdout.write(patient_id + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
