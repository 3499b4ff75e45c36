"""Render the SVG application icon to a square PNG (used by the bundle build).

    python build/render_icon.py resources/icons/desktop-crm.svg OUT.png [SIZE]

Uses Qt's SVG renderer offscreen, so no display and no extra tools are needed.
The PNG serves desktops that do not read SVG icons, and PyInstaller turns it
into the Windows .ico and macOS .icns (with Pillow).
"""

from __future__ import annotations

import os
import sys


def render(svg: str, png: str, size: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(svg)
    if not renderer.isValid():
        raise SystemExit(f"render_icon: cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    if not image.save(png, "PNG"):
        raise SystemExit(f"render_icon: cannot write {png}")
    del app


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    render(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 256)
