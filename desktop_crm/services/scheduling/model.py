"""Appointments as the services see them, and the rules their fields follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.services.scheduling.timezones import (
    Fold,
    from_utc_text,
    local_label,
    short_label,
)

#: FHIR R4 Appointment.status values a practice uses (workflow order).
STATUSES = (
    "proposed",
    "booked",
    "arrived",
    "checked-in",
    "fulfilled",
    "cancelled",
    "noshow",
)
#: Statuses that no longer hold the provider's time.
INACTIVE = frozenset({"cancelled", "noshow"})
MODALITIES = ("video", "phone", "in-person")
#: How screens and printouts name statuses and modalities.
STATUS_LABELS = {
    "proposed": "Proposed",
    "booked": "Booked",
    "arrived": "Arrived",
    "checked-in": "Checked in",
    "fulfilled": "Done",
    "cancelled": "Cancelled",
    "noshow": "No-show",
}
MODALITY_LABELS = {"video": "Video", "phone": "Phone", "in-person": "In person"}
MIN_DURATION = 5
MAX_DURATION = 24 * 60
MAX_TEXT = 500


@dataclass(frozen=True)
class AppointmentRequest:
    """What booking needs; ``local_start`` is a naive wall-clock time in ``zone``."""

    patient_id: str
    provider_id: str
    local_start: datetime
    zone: str
    duration_min: int
    modality: str = "video"
    video_link: str = ""
    location: str = ""
    reason: str = ""
    status: str = "booked"
    fold: Fold | None = None
    rrule: str = ""


@dataclass(frozen=True)
class Appointment:
    """One appointment or one occurrence of a series.

    ``reason`` is None when the viewer may not read it (only users with
    ``visits.notes`` and the appointment's own provider may).
    """

    id: str
    patient_id: str
    provider_id: str
    start: datetime
    duration_min: int
    zone: str
    modality: str
    video_link: str
    location: str
    reason: str | None
    status: str
    cancel_reason: str = ""
    series_id: str | None = None
    recurrence_id: str | None = None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration_min)

    def label(self, zone: str | None = None) -> str:
        """``YYYY-MM-DD HH:MM Zone`` in ``zone`` (default: the appointment's)."""
        return local_label(self.start, zone or self.zone)

    def time_in(self, zone: str) -> str:
        """``HH:MM ABBR`` in another zone (the patient's, the viewer's)."""
        return short_label(self.start, zone)


class Overlap(CRMError):
    """The provider is already booked then; lists the clashing appointments."""

    def __init__(self, clashes: list[Appointment]) -> None:
        listed = ", ".join(f"{c.id} at {c.label()}" for c in clashes[:10])
        more = f" and {len(clashes) - 10} more" if len(clashes) > 10 else ""
        super().__init__(
            f"the provider is already booked then: {listed}{more} "
            "(book anyway with allow overlap)"
        )
        self.clashes = clashes


class AppointmentNotFound(CRMError):
    """No appointment with that id."""

    def __init__(self) -> None:
        super().__init__("no appointment with that id")


def from_row(row: dict[str, Any], reason_visible: bool) -> Appointment:
    return Appointment(
        id=str(row["id"]),
        patient_id=str(row["patient_id"]),
        provider_id=str(row["provider_id"]),
        start=from_utc_text(str(row["start_utc"])),
        duration_min=int(row["duration_min"]),
        zone=str(row["zone"]),
        modality=str(row["modality"]),
        video_link=str(row["video_link"]),
        location=str(row["location"]),
        reason=str(row["reason"]) if reason_visible else None,
        status=str(row["status"]),
        cancel_reason=str(row["cancel_reason"]),
        series_id=None if row["series_id"] is None else str(row["series_id"]),
        recurrence_id=(
            None if row["recurrence_id"] is None else str(row["recurrence_id"])
        ),
    )


def check_video_link(link: str) -> str:
    link = link.strip()
    if not link:
        return ""
    parts = urlsplit(link)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInput("video link", "must be an https:// address")
    if any(c.isspace() for c in link) or len(link) > MAX_TEXT:
        raise InvalidInput("video link", "is not a valid address")
    return link


def check_text(value: str, field: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(field, f"use at most {MAX_TEXT} characters")
    return value


def check_details(request: AppointmentRequest) -> AppointmentRequest:
    """The request with its text fields checked (the start is checked apart)."""
    from dataclasses import replace

    if request.modality not in MODALITIES:
        raise InvalidInput("modality", f"choose one of {', '.join(MODALITIES)}")
    if request.status not in ("proposed", "booked"):
        raise InvalidInput("status", "a new appointment is 'proposed' or 'booked'")
    if not MIN_DURATION <= request.duration_min <= MAX_DURATION:
        raise InvalidInput(
            "duration", f"must be {MIN_DURATION} to {MAX_DURATION} minutes"
        )
    return replace(
        request,
        video_link=check_video_link(request.video_link),
        location=check_text(request.location, "location"),
        reason=check_text(request.reason, "reason"),
    )
