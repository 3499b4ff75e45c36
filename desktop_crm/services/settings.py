"""Practice settings an admin may change, with their allowed ranges."""

from __future__ import annotations

from collections.abc import Mapping

from desktop_crm.errors import InvalidInput
from desktop_crm.services import settings_keys as keys
from desktop_crm.services.session import Session
from desktop_crm.storage.writepath import AuditEvent, Mutation

#: Setting name -> (label for messages, lowest, highest) for whole numbers.
RANGES: dict[str, tuple[str, int, int]] = {
    keys.IDLE_MINUTES: ("lock after idle (minutes)", 1, 240),
    keys.QUICK_UNLOCK_HOURS: ("quick re-unlock (hours)", 0, 24),
}
#: Setting name -> (label for messages, allowed values) for settings of choice.
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    keys.PROVIDER_NOTES_SCOPE: ("provider notes scope", keys.NOTES_SCOPES),
}


def _check(name: str, value: str) -> None:
    if name in CHOICES:
        label, allowed = CHOICES[name]
        if value not in allowed:
            raise InvalidInput(label, f"choose one of {', '.join(allowed)}")
        return
    if name not in RANGES:
        raise InvalidInput(name, "is not a setting that can be changed here")
    label, low, high = RANGES[name]
    try:
        number = int(value)
    except ValueError as exc:
        raise InvalidInput(label, "must be a whole number") from exc
    if not low <= number <= high:
        raise InvalidInput(label, f"must be between {low} and {high}")


def save(session: Session, values: Mapping[str, str]) -> None:
    """Check and store settings in one audited write (admin).

    Raises:
        NotPermitted: the user lacks ``settings.manage``.
        InvalidInput: an unknown setting, a value out of range, or a value
            not among a setting's choices (``CHOICES``).
    """
    session.require("settings.manage")
    for name, value in values.items():
        _check(name, value)
    session.write(
        AuditEvent("settings.change", "settings", ",".join(sorted(values))),
        [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()],
    )
