"""Scheduling: week view data and series expansion (issue #5).

Run: `python benchmarks/scheduling.py` (project root, in the venv).

- Week view: a vault with 10 providers and 2,000 single appointments in one
  week (200 per provider), plus one weekly series per provider; the time of
  ``appointments.week`` (the data a week view is built from: rows read,
  series expanded, sorted, reasons filtered) for the whole practice and for
  one provider.  Goal: median <= 100 ms.
- Expanding a 5-year weekly series in America/New_York (261 occurrences,
  across 10 DST changes) with ``recurrence.expand``.  Goal: median <= 50 ms.

Rows are inserted through the write path in one batch (booking each through
``appointments.book`` would measure the overlap checks, not the view).
DESKTOP_CRM_TEST_KDF=1 is set: the Argon2id cost only affects vault creation.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("DESKTOP_CRM_TEST_KDF", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.vault_fixtures import make_vault  # noqa: E402

from desktop_crm.platform.secret_store import MemorySecretStore  # noqa: E402
from desktop_crm.services import patients, providers  # noqa: E402
from desktop_crm.services.patient_model import Patient  # noqa: E402
from desktop_crm.services.scheduling import appointments, recurrence  # noqa: E402
from desktop_crm.services.scheduling.model import AppointmentRequest  # noqa: E402
from desktop_crm.services.scheduling.timezones import utc_text  # noqa: E402
from desktop_crm.storage.writepath import AuditEvent, Mutation  # noqa: E402

PROVIDERS = 10
APPOINTMENTS = 2_000
MONDAY = datetime(2031, 3, 3, 5, 0, tzinfo=UTC)  # 00:00 EST
REPEATS = 30


def _median_ms(action, repeats: int = REPEATS) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def _populate(session) -> list[str]:
    patient_ids = [
        patients.create_patient(
            session,
            Patient(family=f"Patient{n:03d}", given="Test"),
            allow_duplicates=True,
        )
        for n in range(50)
    ]
    provider_ids = [
        providers.upsert_practitioner(
            session, f"Doc{n}", "Test", f"Dr {n}", "", [("urn:bench", str(n))]
        )[0]
        for n in range(PROVIDERS)
    ]
    now = utc_text(datetime.now(UTC))
    mutations = []
    for n in range(APPOINTMENTS):
        start = MONDAY + timedelta(minutes=30 * (n // PROVIDERS) % (7 * 24 * 60))
        values = {
            "patient_id": patient_ids[n % len(patient_ids)],
            "provider_id": provider_ids[n % PROVIDERS],
            "start_utc": utc_text(start),
            "end_utc": utc_text(start + timedelta(minutes=30)),
            "zone": "America/New_York",
            "duration_min": 30,
            "modality": "video",
            "video_link": "",
            "location": "",
            "reason": "check-up",
            "status": "booked",
            "cancel_reason": "",
            "series_id": None,
            "recurrence_id": None,
            "created_at": now,
            "updated_at": now,
        }
        mutations.append(Mutation("appointments", str(uuid.uuid4()), "insert", values))
    session.write(AuditEvent("bench.populate", "appointments", None), mutations)
    for n, provider_id in enumerate(provider_ids):
        appointments.book(
            session,
            AppointmentRequest(
                patient_ids[n],
                provider_id,
                datetime(2030, 1, 7, 7, 0),
                "America/New_York",
                15,
                rrule="FREQ=WEEKLY;COUNT=200",
            ),
            allow_overlap=True,
        )
    return provider_ids


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        harness = make_vault(Path(folder) / "vault", MemorySecretStore())
        session = harness.created.session
        provider_ids = _populate(session)
        found = appointments.week(session, MONDAY)
        print(
            f"week view, whole practice: {len(found)} appointments "
            f"({APPOINTMENTS} single + {PROVIDERS} series occurrences)"
        )
        median, p95 = _median_ms(lambda: appointments.week(session, MONDAY))
        print(f"  median {median:.1f} ms, p95 {p95:.1f} ms (goal: median <= 100 ms)")
        one = appointments.week(session, MONDAY, provider_ids[0])
        median, p95 = _median_ms(
            lambda: appointments.week(session, MONDAY, provider_ids[0])
        )
        print(f"week view, one provider: {len(one)} appointments")
        print(f"  median {median:.1f} ms, p95 {p95:.1f} ms (goal: median <= 100 ms)")
        session.lock()

    rule = recurrence.normalise(
        "FREQ=WEEKLY;UNTIL=20351231", "America/New_York", datetime(2031, 1, 6, 9, 0)
    )
    count = len(recurrence.expand(rule, "America/New_York", datetime(2031, 1, 6, 9)))
    median, p95 = _median_ms(
        lambda: recurrence.expand(rule, "America/New_York", datetime(2031, 1, 6, 9)),
        100,
    )
    print(f"expand a 5-year weekly series: {count} occurrences")
    print(f"  median {median:.2f} ms, p95 {p95:.2f} ms (goal: median <= 50 ms)")


if __name__ == "__main__":
    main()
