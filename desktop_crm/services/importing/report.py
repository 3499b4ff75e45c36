"""What an import did: counts, rejected items and warnings, for people to read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]

#: How long an import's commit group stays open (see ``Database.batch``):
#: short enough that another window or command waits no longer than a click.
COMMIT_GROUP_SECONDS = 0.25


@dataclass
class Rejection:
    """One item left out (or a warning about one), with where and why.

    ``entry`` locates it inside the file ("entry 3 (Patient/abc)", "row 41207");
    ``reason`` names the field and never quotes a name or other patient value.
    """

    file: str
    entry: str
    reason: str


@dataclass
class ImportReport:
    """Counts of one import run plus everything a person must review.

    ``updated`` counts existing patients (matched by identifier) that gained
    data they lacked; ``cancelled`` is set when the run stopped early (what
    was written before stays written).
    """

    patients: int = 0
    practitioners: int = 0
    encounters: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    updated: int = 0
    appointments: int = 0
    communications: int = 0
    cancelled: bool = False
    dry_run: bool = False

    def summary_line(self) -> str:
        """The one-line summary the command line ends with."""
        scheduling = "".join(
            f", {count} {label}"
            for count, label in (
                (self.appointments, "appointments"),
                (self.communications, "communications"),
            )
            if count
        )
        return (
            f"imported: {self.patients} patients, {self.practitioners} "
            f"practitioners, {self.encounters} encounters{scheduling}; unchanged: "
            f"{self.unchanged}; skipped: {self.skipped}; rejected: "
            f"{len(self.rejected)}"
        )

    def reject(self, file: str, entry: str, reason: str) -> None:
        self.rejected.append(Rejection(file, entry, reason))

    def warn(self, file: str, entry: str, reason: str) -> None:
        self.warnings.append(Rejection(file, entry, reason))
