"""The `appointments`, `reminders` and `calendar` subcommands (issue #5).

Only the argument parsers live here; the handlers (and the scheduling, iCal
and SMTP modules they need) load when a command runs, in
``desktop_crm.cli.scheduling_handlers``, which also documents the output
formats.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _lazy(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from desktop_crm.cli import scheduling_handlers

        handler = getattr(scheduling_handlers, name)
        return int(handler(args))

    return run


cmd_add = _lazy("cmd_add")
cmd_list = _lazy("cmd_list")
cmd_reminders_run = _lazy("cmd_reminders_run")
cmd_calendar_export = _lazy("cmd_calendar_export")


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add this module's subcommands; ``command`` is main._command."""
    parser_class = type(sub._name_parser_map.get("init", argparse.ArgumentParser()))
    appts = sub.add_parser("appointments", help="appointments").add_subparsers(
        dest="appointments_command", parser_class=parser_class, required=True
    )
    add = command(appts, "add", cmd_add, "book an appointment or a series")
    add.add_argument("--patient", required=True, help="the patient's id")
    add.add_argument("--provider", required=True, help="exact display name")
    add.add_argument("--start", required=True, help="YYYY-MM-DDTHH:MM, local to --tz")
    add.add_argument("--duration", required=True, type=int, help="minutes")
    add.add_argument("--tz", required=True, help="IANA time zone of --start")
    add.add_argument("--rrule", help="RFC 5545 rule, e.g. FREQ=WEEKLY;COUNT=10")
    add.add_argument(
        "--modality", choices=("video", "phone", "in-person"), default="video"
    )
    add.add_argument("--video-link", help="https:// address of the video visit")
    add.add_argument("--location", help="where an in-person visit takes place")
    add.add_argument("--fold", choices=("earlier", "later"))
    add.add_argument("--allow-overlap", action="store_true")
    add.add_argument(
        "--allow-outside-hours",
        action="store_true",
        help="book even outside the provider's working hours or on a day off",
    )
    listing = command(appts, "list", cmd_list, "one day's appointments")
    listing.add_argument("--date", required=True, help="YYYY-MM-DD, practice zone")
    listing.add_argument("--provider", help="exact display name")

    rem = sub.add_parser("reminders", help="appointment reminders").add_subparsers(
        dest="reminders_command", parser_class=parser_class, required=True
    )
    command(rem, "run", cmd_reminders_run, "send the reminders that are due")

    cal = sub.add_parser("calendar", help="calendar export").add_subparsers(
        dest="calendar_command", parser_class=parser_class, required=True
    )
    export = command(cal, "export", cmd_calendar_export, "a provider's .ics")
    export.add_argument("--provider", required=True, help="exact display name")
