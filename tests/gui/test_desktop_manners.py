"""Desktop manners: remembered geometry, light and dark palettes, high DPI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from gui_helpers import unlock_with
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget
from support.vault_fixtures import ADMIN, ADMIN_PIN, PRACTICE

from desktop_crm.gui import app as gui_app
from desktop_crm.gui import window_state
from desktop_crm.gui.main_window import MainWindow
from desktop_crm.gui.window_state import WindowStateKeeper
from desktop_crm.services import patients
from desktop_crm.services.patient_model import Patient

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b")
#: Style sheets with fixed colours that are hard to read on a dark palette.
KNOWN_FIXED_COLOURS: set[str] = set()
PATIENT = Patient(family="Lindqvist", given="Maja", birth_date="1988-08-08")


@pytest.fixture
def restore_look():
    """Put the application's style and palette back after the test."""
    qapp = QApplication.instance()
    style, palette = qapp.style().name(), qapp.palette()
    yield qapp
    qapp.setStyle(style)
    qapp.setPalette(palette)


@pytest.fixture
def unlocked(qtbot, window, harness):
    """An unlocked admin session, Patients page, with one record open."""
    unlock_with(qtbot, window, ADMIN, ADMIN_PIN, harness.code())
    qtbot.waitUntil(lambda: window.workspace is not None)
    patient_id = patients.create_patient(window.session, PATIENT)
    screen = window.workspace.patients
    screen.show_all()
    with qtbot.waitSignal(screen.patient_opened):
        screen.open_patient(patient_id)
    return window


def mean_lightness(widget: QWidget) -> float:
    image = widget.grab().toImage()
    assert not image.isNull()
    step = 7
    values = [
        image.pixelColor(x, y).lightnessF()
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    ]
    return sum(values) / len(values)


# -- geometry -------------------------------------------------------------------


def test_geometry_is_remembered(qtbot, harness, tmp_path) -> None:
    path = tmp_path / "config" / window_state.FILE_NAME
    first = MainWindow(harness.service, harness.clock)
    qtbot.addWidget(first)
    WindowStateKeeper(first, path)
    first.start()
    first.show()
    first.resize(751, 563)
    first.close()
    second = MainWindow(harness.service, harness.clock)
    qtbot.addWidget(second)

    keeper = WindowStateKeeper(second, path)

    assert keeper.restored
    assert second.size() == QSize(751, 563)


def test_nothing_from_the_vault_is_remembered(unlocked, tmp_path) -> None:
    path = tmp_path / window_state.FILE_NAME
    WindowStateKeeper(unlocked, path)

    unlocked.close()

    text = path.read_text(encoding="latin-1")
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    assert sorted(settings.allKeys()) == sorted(window_state.KEYS)
    for value in (PATIENT.family, PATIENT.given, ADMIN, PRACTICE, "Lindqvist"):
        assert value not in text


def test_without_saved_state_the_default_size_stays(qtbot, harness, tmp_path) -> None:
    window = MainWindow(harness.service, harness.clock)
    qtbot.addWidget(window)
    default = window.size()

    keeper = WindowStateKeeper(window, tmp_path / "missing.ini")

    assert not keeper.restored and window.size() == default


def test_the_app_installs_the_keeper_and_the_self_test_saves_nothing(
    qtbot, empty_vault, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    made: list[WindowStateKeeper] = []

    class Recording(WindowStateKeeper):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(gui_app, "WindowStateKeeper", Recording)

    assert gui_app.run_gui(empty_vault, self_test=True) == 0

    assert len(made) == 1
    assert made[0].path == tmp_path / "xdg" / "desktop-crm" / window_state.FILE_NAME
    assert not made[0].path.exists()


# -- palette --------------------------------------------------------------------


def test_dark_palette_renders_the_main_window(qtbot, unlocked, restore_look) -> None:
    light = mean_lightness(unlocked)

    gui_app.apply_color_scheme(restore_look, Qt.ColorScheme.Dark)
    qtbot.wait(10)
    dark = mean_lightness(unlocked)

    assert restore_look.palette().color(QPalette.ColorRole.Window).lightness() < 80
    assert light > 0.7 and dark < 0.3


def test_light_scheme_restores_a_light_palette(restore_look) -> None:
    gui_app.apply_color_scheme(restore_look, Qt.ColorScheme.Dark)

    gui_app.apply_color_scheme(restore_look, Qt.ColorScheme.Light)

    window = restore_look.palette().color(QPalette.ColorRole.Window)
    assert window.lightness() > 180


def test_dark_palette_text_is_readable() -> None:
    palette = gui_app.dark_palette()
    pairs = [
        (QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
        (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
        (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
        (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight),
        (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.Base),
    ]

    ratios = [contrast(palette.color(a), palette.color(b)) for a, b in pairs]

    assert min(ratios) >= 4.5, ratios


def test_no_fixed_colours_in_style_sheets(unlocked) -> None:
    fixed = {
        f"{type(w).__name__}#{w.objectName()}"
        for w in [unlocked, *unlocked.findChildren(QWidget)]
        if HEX_COLOUR.search(w.styleSheet())
    }

    assert fixed <= KNOWN_FIXED_COLOURS


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG 2 contrast ratio of two colours."""

    def luminance(colour: QColor) -> float:
        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(v) for v in colour.getRgbF()[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# -- high DPI -------------------------------------------------------------------


def test_fractional_scaling_and_an_svg_icon() -> None:
    probe = (
        "from PySide6.QtGui import QGuiApplication\n"
        "from desktop_crm.gui.app import ICON, application\n"
        "app = application()\n"
        "icon = app.windowIcon()\n"
        "print(QGuiApplication.highDpiScaleFactorRoundingPolicy().name)\n"
        "print(ICON.suffix, icon.isNull(), icon.pixmap(64, 64).isNull())\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}

    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")

    assert out[0] == "PassThrough"
    assert out[1] == ".svg False False"


def test_error_messages_stay_readable_on_both_palettes(qtbot, restore_look) -> None:
    from desktop_crm.gui import fields
    from desktop_crm.gui.app import dark_palette

    label = fields.error_label()
    qtbot.addWidget(label)
    light = contrast(
        label.palette().color(QPalette.ColorRole.WindowText),
        label.palette().color(QPalette.ColorRole.Window),
    )
    QApplication.instance().setPalette(dark_palette())
    qtbot.waitUntil(
        lambda: label.palette().color(QPalette.ColorRole.Window).lightness() < 128
    )

    dark = contrast(
        label.palette().color(QPalette.ColorRole.WindowText),
        label.palette().color(QPalette.ColorRole.Window),
    )

    assert light >= 4.5
    assert dark >= 4.5
