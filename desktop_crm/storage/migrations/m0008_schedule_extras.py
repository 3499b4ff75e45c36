"""Schema 8: working hours, days off, the waitlist and the virtual-visit log.

- ``provider_hours``: one row per provider; ``weekly`` is JSON
  ``{"0": [["09:00", "12:00"], ...], ...}`` (0 = Monday), wall-clock times in
  the provider's own zone.
- ``provider_days_off``: a date or a range of dates (inclusive) off.
- ``waitlist``: patients waiting for an earlier slot, with preferences.
- ``virtual_visits``: the telehealth details of a visit; ``id`` is the id of
  the ``visits`` row (the Encounter) the visit also writes.
"""

STATEMENTS = [
    """CREATE TABLE provider_hours (
        id TEXT PRIMARY KEY,
        weekly TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE provider_days_off (
        id TEXT PRIMARY KEY,
        provider_id TEXT NOT NULL REFERENCES providers(id),
        first_day TEXT NOT NULL,
        last_day TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    )""",
    """CREATE INDEX provider_days_off_span
       ON provider_days_off(provider_id, first_day, last_day)""",
    """CREATE TABLE waitlist (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        provider_id TEXT REFERENCES providers(id),
        zone TEXT NOT NULL,
        weekdays TEXT NOT NULL DEFAULT '',
        windows TEXT NOT NULL DEFAULT '[]',
        earliest TEXT,
        latest TEXT,
        modality TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        appointment_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX waitlist_status ON waitlist(status, created_at)",
    "CREATE INDEX waitlist_patient ON waitlist(patient_id)",
    """CREATE TABLE virtual_visits (
        id TEXT PRIMARY KEY,
        appointment_id TEXT NOT NULL UNIQUE,
        started_utc TEXT NOT NULL,
        ended_utc TEXT,
        modality TEXT NOT NULL,
        platform TEXT NOT NULL DEFAULT '',
        link TEXT NOT NULL DEFAULT '',
        participants TEXT NOT NULL DEFAULT '[]',
        location_country TEXT NOT NULL,
        location_state TEXT NOT NULL DEFAULT '',
        consent_method TEXT NOT NULL,
        consent_utc TEXT NOT NULL,
        consent_by TEXT,
        problems TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    )""",
]
