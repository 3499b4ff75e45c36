"""The About box shows the versions that matter for security reviews."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox


def test_about_shows_sqlcipher_openssl_and_keyring(qtbot, window):
    window.about_action.trigger()

    box = window.dialog
    assert isinstance(box, QMessageBox)
    text = box.text()
    assert "SQLCipher 4." in text
    assert "OpenSSL" in text
    assert "Keyring:" in text
    box.close()
