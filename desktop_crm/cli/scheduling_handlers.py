"""Handlers of the `appointments`, `reminders` and `calendar` subcommands.

Output formats are part of the interface:

- ``appointments add``: the new appointment ids, one per line;
- ``appointments list``: one line per appointment, tab-separated: id, start
  as ``YYYY-MM-DD HH:MM Zone`` in the appointment's zone, duration in
  minutes, provider, patient, status and, when the patient's zone differs,
  the patient's local time (``HH:MM ABBR``);
- ``reminders run``: ``sent: N, failed: M, pending: K``;
- ``calendar export``: the .ics file on standard output.
"""

from __future__ import annotations

import argparse
import sys

from desktop_crm.cli.commands import _run_unlocked
from desktop_crm.errors import InvalidInput, UsageError
from desktop_crm.services import providers, settings_keys
from desktop_crm.services.scheduling import (
    appointments,
    calendar_export,
    reminders,
    working_hours,
)
from desktop_crm.services.scheduling.model import AppointmentRequest
from desktop_crm.services.scheduling.timezones import (
    AmbiguousTime,
    day_bounds,
    parse_local,
)
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService
from desktop_crm.storage import schedule_queries


def _start_error(exc: InvalidInput) -> InvalidInput:
    if exc.field != "start":
        return exc
    problem = exc.problem
    if isinstance(exc, AmbiguousTime):
        problem += " with --fold earlier or --fold later"
    return InvalidInput("--start", problem)


def cmd_add(args: argparse.Namespace) -> int:
    local = parse_local(args.start, "--start")

    def run(vault: VaultService, session: Session) -> None:
        provider = appointments.provider_by_name(session, args.provider)
        request = AppointmentRequest(
            patient_id=args.patient,
            provider_id=provider.id,
            local_start=local,
            zone=args.tz,
            duration_min=args.duration,
            modality=args.modality,
            video_link=args.video_link or "",
            location=args.location or "",
            fold=args.fold,
            rrule=args.rrule or "",
        )
        try:
            working_hours.check_request(
                session, request, allow_outside=args.allow_outside_hours
            )
            ids = appointments.book(session, request, allow_overlap=args.allow_overlap)
        except InvalidInput as exc:
            raise _start_error(exc) from exc
        for new_id in ids:
            print(new_id)

    return _run_unlocked(args, run)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def cmd_list(args: argparse.Namespace) -> int:
    def run(vault: VaultService, session: Session) -> None:
        zone = session.setting(settings_keys.PRACTICE_TZ, "UTC")
        begin, end = day_bounds(args.date, zone)
        provider_id = None
        if args.provider:
            provider_id = appointments.provider_by_name(session, args.provider).id
        found = appointments.between(session, begin, end, provider_id)
        found = [a for a in found if begin <= a.start < end]
        db = session.database()
        people = schedule_queries.patient_names(db, [a.patient_id for a in found])
        names = {p.id: p.display for p in providers.list_providers(session)}
        for appt in found:
            person = people.get(appt.patient_id, {})
            first = " ".join(
                p for p in (person.get("given"), person.get("middle")) if p
            )
            name = (
                f"{person.get('family', '')}, {first}"
                if first
                else person.get("family", "")
            )
            fields = [
                appt.id,
                appt.label(),
                str(appt.duration_min),
                _one_line(names.get(appt.provider_id, "")),
                _one_line(str(name)),
                appt.status,
            ]
            patient_zone = str(person.get("timezone") or "")
            if patient_zone and patient_zone != appt.zone:
                fields.append(appt.time_in(patient_zone))
            print("\t".join(fields))

    return _run_unlocked(args, run)


def cmd_reminders_run(args: argparse.Namespace) -> int:
    def run(vault: VaultService, session: Session) -> None:
        result = reminders.run(session, vault.secrets)
        print(result.line())

    return _run_unlocked(args, run)


def cmd_calendar_export(args: argparse.Namespace) -> int:
    if sys.stdout.isatty():
        raise UsageError("the calendar goes to standard output: redirect it (> FILE)")

    def run(vault: VaultService, session: Session) -> None:
        provider = appointments.provider_by_name(session, args.provider)
        data = calendar_export.provider_calendar(session, provider.id)
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    return _run_unlocked(args, run)
