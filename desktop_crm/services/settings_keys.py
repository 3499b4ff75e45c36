"""Names and defaults of the vault's settings (stored inside the database)."""

VAULT_ID = "vault.id"
PRACTICE_NAME = "practice.name"
PRACTICE_TZ = "practice.timezone"
HEADER_GENERATION = "vault.header_generation"
IDLE_MINUTES = "lock.idle_minutes"
QUICK_UNLOCK_HOURS = "unlock.quick_hours"
UNATTENDED = "unattended.enabled"
#: Whose visit reasons and clinical notes a provider may read: "own" (patients
#: with an appointment or visit with them) or "all" (every patient).
PROVIDER_NOTES_SCOPE = "access.provider_notes_scope"

DEFAULT_IDLE_MINUTES = "5"
DEFAULT_QUICK_UNLOCK_HOURS = "8"
NOTES_SCOPES = ("own", "all")
DEFAULT_PROVIDER_NOTES_SCOPE = "own"
