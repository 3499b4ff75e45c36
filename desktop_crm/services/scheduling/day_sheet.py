"""A printable day sheet: one provider's or the whole practice's day as PDF.

Made in memory with fpdf2 and the bundled DejaVu fonts (the same set-up as
the patient summary); nothing is written to disk here, the screen saves the
bytes where the user chose.  Reasons appear only for appointments whose
reason the user may read; cancelled appointments are left out.  Printing is
audited as ``schedule.print`` naming the provider (or ``practice``) and the
date, never a patient value.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from desktop_crm.services import settings_keys
from desktop_crm.services.exporting import pdf_summary
from desktop_crm.services.exporting.pdf_summary import FONT
from desktop_crm.services.scheduling import schedule_view
from desktop_crm.services.scheduling.model import MODALITY_LABELS, STATUS_LABELS
from desktop_crm.services.scheduling.schedule_view import Entry
from desktop_crm.services.scheduling.timezones import zone_of
from desktop_crm.services.session import Session
from desktop_crm.storage.writepath import AuditEvent

log = logging.getLogger(__name__)

MODALITY = MODALITY_LABELS
STATUS = STATUS_LABELS


def _rows(entries: list[Entry], zone: str, practice: bool) -> list[list[str]]:
    tz = zone_of(zone)
    rows = []
    for entry in entries:
        appt = entry.appointment
        local = appt.start.astimezone(tz)
        row = [
            f"{local:%H:%M}",
            f"{appt.duration_min} min",
            entry.patient_name,
        ]
        if practice:
            row.append(entry.provider_name)
        row += [
            MODALITY.get(appt.modality, appt.modality),
            STATUS.get(appt.status, appt.status),
            entry.patient_time_for(zone),
        ]
        rows.append(row)
    return rows


def _reason_lines(entries: list[Entry], zone: str) -> list[str]:
    tz = zone_of(zone)
    return [
        f"{e.appointment.start.astimezone(tz):%H:%M}  {e.patient_name}: "
        f"{e.appointment.reason}"
        for e in entries
        if e.appointment.reason
    ]


def render(
    entries: list[Entry],
    *,
    day: date,
    zone: str,
    practice_name: str,
    provider_name: str | None,
    generated: datetime | None = None,
) -> bytes:
    """The PDF of already loaded entries (no permission check, no audit)."""
    pdf = pdf_summary._new_pdf(generated or datetime.now(UTC))
    pdf.set_title("Day sheet")
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 10, "Day sheet", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    who = provider_name or "Whole practice"
    for line in (practice_name, f"{day:%A %d %B %Y} · {who} · times in {zone}"):
        if line:
            pdf.cell(0, 6, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    shown = [e for e in entries if e.appointment.status != "cancelled"]
    _table(pdf, shown, zone, practice=provider_name is None)
    reasons = _reason_lines(shown, zone)
    if reasons:
        pdf.ln(3)
        pdf.set_font(FONT, "B", 12)
        pdf.cell(0, 8, "Reasons for visit", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, size=10)
        for line in reasons:
            pdf.multi_cell(0, 6, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _table(pdf: FPDF, entries: list[Entry], zone: str, *, practice: bool) -> None:
    if not entries:
        pdf.cell(0, 6, "No appointments", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    headings = ["Time", "Length", "Patient"]
    widths = [14, 18, 52]
    if practice:
        headings.append("Provider")
        widths.append(36)
    headings += ["Modality", "Status", "Patient's time"]
    widths += [22, 22, 28]
    with pdf.table(col_widths=tuple(widths)) as table:
        table.row(headings)
        for row in _rows(entries, zone, practice):
            table.row(row)


def day_sheet(
    session: Session,
    day: date,
    provider_id: str | None = None,
    *,
    zone: str | None = None,
) -> bytes:
    """The day sheet of ``day`` (a date in ``zone``, by default the practice's)
    for one provider, or the whole practice when ``provider_id`` is None.

    Audited as ``schedule.print`` (record: the provider or ``practice``;
    outcome: the date).

    Raises:
        NotPermitted: the user lacks ``appointments.read``.
        InvalidInput: an unknown zone (field ``time zone``).
    """
    session.require("appointments.read")
    zone = zone or schedule_view.practice_zone(session)
    start, end = schedule_view.day_range(day, zone)
    found = schedule_view.entries(session, start, end, provider_id)
    provider_name = None
    if provider_id is not None:
        names = {p.id: p.display for p in schedule_view.providers(session)}
        provider_name = names.get(provider_id, "Provider")
    data = render(
        found,
        day=day,
        zone=zone,
        practice_name=session.setting(settings_keys.PRACTICE_NAME, "") or "",
        provider_name=provider_name,
    )
    record = ("provider", provider_id) if provider_id else ("practice", "practice")
    session.write(
        AuditEvent("schedule.print", record[0], record[1], outcome=day.isoformat())
    )
    log.info("day sheet of %s printed (%d appointments)", day.isoformat(), len(found))
    return data
