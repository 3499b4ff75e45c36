"""The sync screens against a real sync server on loopback TLS (issue #7).

Workstation A is the GUI (the main window on the harness vault); workstation
B joins with a pairing code made in the Sync tab and is driven through the
services.  Each test has its own server (SQLite store, trustme certificate).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from gui_helpers import unlock_with
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QMessageBox
from support.sync_server import RunningServer, TLSFiles, make_tls, serve_in_thread
from support.vault_fixtures import ADMIN, ADMIN_PIN

from desktop_crm.gui import fields
from desktop_crm.gui.patients.record_view import RecordView
from desktop_crm.gui.sync_view import SyncView
from desktop_crm.platform.secret_store import MemorySecretStore
from desktop_crm.services import patients, sync_service
from desktop_crm.services.patient_model import Patient
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService
from desktop_crm.sync.server import ServerConfig, SQLiteStore
from desktop_crm.sync.server.api import registration_hash
from desktop_crm.sync.transport import NotAuthorized

pytestmark = pytest.mark.gui

JOIN_PIN = "97531864"
SHOTS = Path("/tmp/gui-shots")
WAIT = 20_000
REGISTRATION_CODE = "operator-code-7Qm2xk"


@dataclass
class Server:
    running: RunningServer
    tls: TLSFiles
    stack: ExitStack

    @property
    def url(self) -> str:
        return self.running.url

    def stop(self) -> None:
        self.stack.close()


def serve(folder: Path, config: ServerConfig) -> Iterator[Server]:
    """A server on SQLite in ``folder``, running until the generator ends."""
    tls = make_tls(folder / "tls")
    store = SQLiteStore(folder / "sync-server.sqlite3")
    stack = ExitStack()
    running = stack.enter_context(serve_in_thread(store, tls, config))
    try:
        yield Server(running, tls, stack)
    finally:
        stack.close()
        store.close()


@pytest.fixture
def server(tmp_path: Path, harness) -> Iterator[Server]:
    """The server on the vault's clock (pairing expiry is judged by it)."""
    yield from serve(tmp_path / "server", ServerConfig(clock=harness.clock.now))


@pytest.fixture
def admin(qtbot, window, harness):
    """The unlocked main window's Sync tab (fast debounce, slow interval)."""
    window.sync_status.debounce_ms = 100
    window.sync_status.interval_ms = 600_000
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    window.workspace.show_section("Admin")
    view = window.workspace.admin.sync_view
    window.workspace.admin.setCurrentWidget(view)
    window.resize(1100, 900)
    return view


def connect_via_form(qtbot, view: SyncView, url: str, fingerprint: str) -> None:
    view.url_edit.setText(url)
    view.fingerprint_edit.setText(fingerprint)
    view.connect_button.click()
    qtbot.waitUntil(lambda: view.connect_button.isEnabled(), timeout=WAIT)


@pytest.fixture
def connected(qtbot, admin, window, server):
    connect_via_form(qtbot, admin, server.url, server.tls.fingerprint.upper())
    qtbot.waitUntil(lambda: window.sync_status.isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: not window.sync_status.activity.running, timeout=WAIT)
    return admin


@dataclass
class Laptop:
    """Workstation B: joined with a code from the Sync tab, driven by services."""

    service: VaultService
    session: Session

    def sync(self) -> sync_service.SyncResult:
        return sync_service.sync_now(self.service, self.session)


@pytest.fixture
def laptop(qtbot, connected, harness, tmp_path) -> Iterator[Laptop]:
    connected.pair_button.click()
    qtbot.waitUntil(lambda: connected.code_edit.text() != "", timeout=WAIT)
    store = MemorySecretStore()
    joined = sync_service.join(
        tmp_path / "laptop", store, connected.code_edit.text(), ADMIN, JOIN_PIN
    )
    made = Laptop(VaultService(tmp_path / "laptop", store), joined.session)
    yield made
    made.session.lock()


def add_patient(session: Session, given: str = "Ana") -> str:
    return patients.create_patient(
        session,
        Patient(family="Rivera", given=given, birth_date="1980-04-02"),
        allow_duplicates=True,
    )


def set_given(session: Session, patient_id: str, given: str) -> None:
    before = patients.load_patient(session, patient_id)
    patients.update_patient(session, patient_id, replace(before, given=given))


def is_red(label) -> bool:
    colour = label.palette().color(QPalette.ColorRole.WindowText)
    return colour in (
        fields.ErrorLabel.LIGHT_BACKGROUND_RED,
        fields.ErrorLabel.DARK_BACKGROUND_RED,
    )


def shoot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SHOTS / f"sync_{name}.png"))


# -- connecting --


def test_not_connected_hides_the_status_line_and_offers_the_form(window, admin):
    assert not window.sync_status.isVisible()
    assert admin.connect_box.isVisible()
    assert not admin.pair_box.isVisible()
    assert not admin.sync_button.isEnabled()
    assert admin.url_label.text().startswith("Not connected")


def test_a_malformed_fingerprint_is_named_and_changes_nothing(
    qtbot, admin, window, server
):
    connect_via_form(qtbot, admin, server.url, "not-a-fingerprint")

    assert admin.connect_error.text().startswith("Fingerprint: ")
    assert admin.window().focusWidget() is admin.fingerprint_edit
    assert not sync_service.status(window.session).connected


def test_a_wrong_fingerprint_is_refused_and_named(qtbot, admin, window, server):
    connect_via_form(qtbot, admin, server.url, "ab" * 32)

    text = admin.connect_error.text()
    assert text.startswith("Fingerprint: ") and "does not match" in text
    assert not sync_service.status(window.session).connected
    assert not window.sync_status.isVisible()


def test_a_plain_http_url_is_named(qtbot, admin, window, server):
    connect_via_form(qtbot, admin, "http://127.0.0.1:1", server.tls.fingerprint)

    assert admin.connect_error.text().startswith("Server URL: must start with https://")
    assert admin.window().focusWidget() is admin.url_edit


@pytest.fixture
def closed_server(tmp_path: Path, harness) -> Iterator[Server]:
    """A server that takes new practices only with REGISTRATION_CODE."""
    config = ServerConfig(
        clock=harness.clock.now, registration=registration_hash(REGISTRATION_CODE)
    )
    yield from serve(tmp_path / "closed", config)


def test_a_missing_registration_code_is_named(qtbot, admin, window, closed_server):
    connect_via_form(qtbot, admin, closed_server.url, closed_server.tls.fingerprint)

    assert admin.connect_error.text().startswith("Registration code: ")
    assert admin.window().focusWidget() is admin.registration_edit
    assert not sync_service.status(window.session).connected
    shoot(admin, "connect_refused")

    admin.registration_edit.setText(REGISTRATION_CODE)
    connect_via_form(qtbot, admin, closed_server.url, closed_server.tls.fingerprint)
    qtbot.waitUntil(lambda: window.sync_status.isVisible(), timeout=WAIT)
    assert sync_service.status(window.session).connected
    assert admin.registration_edit.text() == ""


def test_connect_via_the_form_then_the_status_line_shows(
    qtbot, window, connected, server
):
    status_line = window.sync_status

    assert connected.url_label.text() == server.url
    assert connected.fingerprint_label.text().replace(":", "").replace("\n", "") == (
        server.tls.fingerprint.upper()
    )
    assert connected.workstation_label.text()
    assert not connected.connect_box.isVisible() and connected.pair_box.isVisible()
    qtbot.waitUntil(lambda: status_line.label.text() == "Synced just now", timeout=WAIT)
    assert not is_red(status_line.label)
    assert not status_line.conflicts_button.isVisible()
    shoot(connected, "tab")
    shoot(window.statusBar(), "status_line")


# -- running --


def test_sync_now_updates_the_status_line(qtbot, window, connected, laptop):
    window.sync_status.activity.debounce.setInterval(600_000)  # no background run
    add_patient(window.session)
    window.sync_status.refresh()
    pending = sync_service.status(window.session).pending_changes
    assert pending > 0
    assert window.sync_status.label.text() == f"Synced just now · {pending} pending"

    window.sync_status.sync_button.click()
    qtbot.waitUntil(
        lambda: window.sync_status.label.text() == "Synced just now", timeout=WAIT
    )
    assert laptop.sync().pulled >= 1
    assert connected.result_label.text().startswith("Sent ")


def test_a_local_change_is_pushed_in_the_background(qtbot, window, connected, laptop):
    patient_id = add_patient(window.session, given="Backgrounded")

    qtbot.waitUntil(
        lambda: sync_service.status(window.session).pending_changes == 0, timeout=WAIT
    )
    laptop.sync()
    assert patients.load_patient(laptop.session, patient_id).given == "Backgrounded"


def test_a_stopped_server_shows_the_error_in_red(qtbot, window, connected, server):
    server.stop()

    window.sync_status.sync_button.click()
    label = window.sync_status.label
    qtbot.waitUntil(lambda: label.text().startswith("Sync failed: "), timeout=WAIT)
    assert is_red(label)
    assert label.toolTip().startswith("Cannot reach the sync server at 127.0.0.1")
    assert is_red(connected.error_label)
    assert connected.error_label.text().startswith("Cannot reach")
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    assert not [b for b in boxes if b.isVisible()]  # no modal in the background
    shoot(window.statusBar(), "status_error")


def test_lock_stops_background_sync(qtbot, window, connected):
    activity = window.sync_status.activity
    window.lock()

    assert window.sync_status.activity is None
    assert not window.sync_status.isVisible()
    assert not activity.interval.isActive() and not activity.debounce.isActive()


# -- pairing and workstations --


def test_pairing_code_is_shown_with_expiry_and_copied(qtbot, window, laptop, connected):
    assert connected.code_row.isVisible()
    assert connected.expiry_label.text().startswith("Valid once, until ")

    connected.copy_button.click()
    assert window.clipboard.pending
    assert "cleared in 30 seconds" in connected.expiry_label.text()


def test_revoke_a_workstation_from_the_list(qtbot, connected, laptop):
    connected.list_button.click()
    qtbot.waitUntil(lambda: connected.workstations.rowCount() == 2, timeout=WAIT)
    laptop_id = sync_service.status(laptop.session).workstation_id
    row = next(
        r for r in range(2) if connected.workstations.item(r, 0).text() == laptop_id
    )
    connected.workstations.selectRow(row)
    connected.revoke_button.click()
    box = connected.confirm_box
    assert box is not None and "Revoke workstation" in box.text()
    revoke = next(b for b in box.buttons() if b.text() == "Revoke")
    revoke.click()

    qtbot.waitUntil(
        lambda: connected.workstations_status.text() == f"Revoked {laptop_id}.",
        timeout=WAIT,
    )
    qtbot.waitUntil(
        lambda: (
            connected.workstations.rowCount() == 2
            and connected.workstations.item(row, 3).text() == "revoked"
        ),
        timeout=WAIT,
    )
    with pytest.raises(NotAuthorized):
        laptop.sync()


def test_a_non_admin_sees_status_and_sync_now_only(qtbot, window, connected):
    front_desk = replace(window.session, roles=("front-desk",))
    view = SyncView(window.workspace.admin.sync_view._vault, front_desk)
    qtbot.addWidget(view)
    view.show()

    assert view.sync_button.isVisible() and view.sync_button.isEnabled()
    assert not view.connect_box.isVisible()
    assert not view.pair_box.isVisible()
    assert not view.workstations_box.isVisible()


# -- conflicts --


@pytest.fixture
def conflict(qtbot, window, connected, laptop) -> str:
    """The same patient's given name changed on both sides; the laptop's wins."""
    window.sync_status.activity.debounce.setInterval(600_000)
    patient_id = add_patient(window.session, given="Original")
    window.sync_status.sync_now()
    qtbot.waitUntil(lambda: not window.sync_status.activity.running, timeout=WAIT)
    laptop.sync()
    set_given(window.session, patient_id, "FrontDesk")
    set_given(laptop.session, patient_id, "Laptop")
    laptop.sync()
    window.sync_status.sync_now()
    qtbot.waitUntil(
        lambda: window.sync_status.conflicts_button.isVisible(), timeout=WAIT
    )
    return patient_id


def record_view(qtbot, session: Session, patient_id: str) -> RecordView:
    view = RecordView(session)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.show_patient(patients.open_patient(session, patient_id))
    return view


def test_conflicts_hint_and_review_list(qtbot, window, connected, conflict):
    assert window.sync_status.conflicts_button.text() == "Sync: conflicts 1"
    connected.refresh()
    table = connected.conflicts.table
    assert table.rowCount() == 1
    cells = [table.item(0, c).text() for c in range(table.columnCount())]
    assert cells[0].startswith("Patient Rivera, ")
    assert cells[1] == "given"
    assert {cells[2], cells[3]} == {"FrontDesk", "Laptop"}
    shoot(connected, "conflicts_tab")

    connected.conflicts.keep_button.click()
    assert table.rowCount() == 0 and connected.conflicts.empty.isVisible()
    window.sync_status.refresh()
    assert not window.sync_status.conflicts_button.isVisible()


def test_banner_in_the_record_resolves_with_the_other_value(qtbot, window, conflict):
    view = record_view(qtbot, window.session, conflict)
    banner = view.sync_banner
    assert banner.isVisible()
    [found] = banner.rows
    shown = patients.load_patient(window.session, conflict).given
    assert found.kept == shown and found.lost in {"FrontDesk", "Laptop"} - {shown}
    assert f"Kept: {shown}" in banner.grid.itemAtPosition(0, 1).widget().text()
    shoot(view, "conflict_banner")

    banner.other_buttons[0].click()

    assert not banner.isVisible()
    assert patients.load_patient(window.session, conflict).given == found.lost
    qtbot.waitUntil(lambda: view.patient.given == found.lost, timeout=WAIT)
    assert found.lost in view.name_label.text()
    assert view.info.text() == "Conflict settled."


def test_banner_shows_a_refusal_and_keeps_the_conflict(qtbot, window, conflict):
    biller = replace(window.session, roles=("biller",))
    view = record_view(qtbot, biller, conflict)
    banner = view.sync_banner
    assert banner.isVisible()

    banner.keep_buttons[0].click()

    assert "not permitted" in banner.error.text().lower()
    assert "patients.write" in banner.error.text()
    assert banner.isVisible() and len(banner.rows) == 1
