"""Schema 3: patients, identifiers, providers, visits, documents, merges, search."""

STATEMENTS = [
    """CREATE TABLE patients (
        id TEXT PRIMARY KEY,
        mrn TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'inactive', 'deceased', 'merged')),
        deceased_date TEXT,
        family TEXT NOT NULL,
        given TEXT NOT NULL DEFAULT '',
        middle TEXT NOT NULL DEFAULT '',
        prefix TEXT NOT NULL DEFAULT '',
        suffix TEXT NOT NULL DEFAULT '',
        preferred_name TEXT NOT NULL DEFAULT '',
        previous_names TEXT NOT NULL DEFAULT '[]',
        birth_date TEXT,
        sex_at_birth TEXT NOT NULL DEFAULT '',
        gender_identity TEXT NOT NULL DEFAULT '',
        pronouns TEXT NOT NULL DEFAULT '',
        phones TEXT NOT NULL DEFAULT '[]',
        emails TEXT NOT NULL DEFAULT '[]',
        address TEXT NOT NULL DEFAULT '{}',
        language TEXT NOT NULL DEFAULT '',
        preferred_contact TEXT NOT NULL DEFAULT '',
        emergency_contact TEXT NOT NULL DEFAULT '{}',
        insurance TEXT NOT NULL DEFAULT '{}',
        timezone TEXT NOT NULL DEFAULT '',
        notes TEXT NOT NULL DEFAULT '',
        merged_into TEXT REFERENCES patients(id),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX patients_birth_date ON patients(birth_date)",
    """CREATE INDEX patients_family
       ON patients(family COLLATE NOCASE, given COLLATE NOCASE)""",
    """CREATE TABLE patient_identifiers (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        system TEXT NOT NULL,
        value TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX patient_identifiers_patient ON patient_identifiers(patient_id)",
    """CREATE TABLE providers (
        id TEXT PRIMARY KEY,
        user_id TEXT REFERENCES users(id),
        display TEXT NOT NULL,
        family TEXT NOT NULL DEFAULT '',
        given TEXT NOT NULL DEFAULT '',
        npi TEXT NOT NULL DEFAULT '',
        timezone TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT 'practice',
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE provider_identifiers (
        id TEXT PRIMARY KEY,
        provider_id TEXT NOT NULL REFERENCES providers(id),
        system TEXT NOT NULL,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE visits (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        start TEXT,
        end TEXT,
        class TEXT NOT NULL DEFAULT '',
        type TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT '',
        provider_id TEXT REFERENCES providers(id),
        provider_ref TEXT NOT NULL DEFAULT '',
        source_key TEXT UNIQUE
    )""",
    "CREATE INDEX visits_patient ON visits(patient_id, start)",
    """CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        filename TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        content BLOB NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX documents_patient ON documents(patient_id)",
    """CREATE TABLE patient_merges (
        id TEXT PRIMARY KEY,
        survivor_id TEXT NOT NULL REFERENCES patients(id),
        retired_id TEXT NOT NULL REFERENCES patients(id),
        moved TEXT NOT NULL,
        merged_at TEXT NOT NULL,
        undone_at TEXT
    )""",
    """CREATE VIRTUAL TABLE patient_search USING fts5(
        patient_id UNINDEXED,
        names,
        phones,
        emails,
        identifiers,
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '1 2 3'
    )""",
]
