"""Named read queries for the care relationship: which patients a user sees.

A user "sees" a patient when any provider row linked to that user has an
appointment, a recurring series or a recorded visit with the patient.  The
notes scope (``access.provider_notes_scope``) reads this to decide who may
read visit reasons and clinical notes.
"""

from __future__ import annotations

from desktop_crm.storage.database import Database

_SEEN = (
    "SELECT a.patient_id FROM appointments a "
    "JOIN providers p ON p.id = a.provider_id WHERE p.user_id = ? "
    "UNION SELECT s.patient_id FROM appointment_series s "
    "JOIN providers p ON p.id = s.provider_id WHERE p.user_id = ? "
    "UNION SELECT v.patient_id FROM visits v "
    "JOIN providers p ON p.id = v.provider_id WHERE p.user_id = ?"
)


def patients_seen_by_user(db: Database, user_id: str) -> set[str]:
    """Ids of every patient with an appointment, series or visit with the user."""
    rows = db.query(_SEEN, (user_id, user_id, user_id))
    return {str(r[0]) for r in rows}


def user_sees_patient(db: Database, user_id: str, patient_id: str) -> bool:
    """Whether the patient has an appointment, series or visit with the user."""
    checks = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} t JOIN providers p ON p.id = t.provider_id "
        "WHERE t.patient_id = ? AND p.user_id = ?)"
        for table in ("appointments", "appointment_series", "visits")
    )
    found = db.scalar(f"SELECT {checks}", (patient_id, user_id) * 3)
    return bool(found)
