"""Headless Chromium screenshots for the HTML page tests (Debian's chromium; Pillow reads the PNG)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


needs_browser = pytest.mark.skipif(browser() is None, reason="chromium is not installed (apt-get install -y chromium)")


def screenshot(
    page: Path, tmp_path: Path, size: tuple[int, int] = (900, 700)
) -> tuple[int, int, set[tuple[int, int, int]], int]:
    """Screenshot ``page``: (width, height, the set of RGB colours seen, the count of non-white pixels)."""
    from PIL import Image  # a matplotlib dependency, so in the test extra

    shot = tmp_path / "shot.png"
    profile = tempfile.mkdtemp(dir=tmp_path)
    cmd = [
        browser() or "chromium",
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--screenshot={shot}",
        f"--window-size={size[0]},{size[1]}",
        page.as_uri(),
    ]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True, env={**os.environ, "HOME": str(tmp_path)})
    img = Image.open(shot).convert("RGB")
    raw = img.tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    return img.width, img.height, set(pixels), sum(1 for p in pixels if p != (255, 255, 255))


def rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[k : k + 2], 16) for k in (1, 3, 5))  # type: ignore[return-value]
