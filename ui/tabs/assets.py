"""Paths of the example media in ``assets/`` (made by ``assets/make_assets.py``)."""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"


def asset(name: str) -> str:
    """Absolute path of an example file."""
    return str(ASSETS_DIR / name)


def existing(rows: list[list], *, file_columns: tuple[int, ...]) -> list[list]:
    """The example rows whose files (in ``file_columns``) exist, so a missing asset drops its
    example instead of breaking the page."""
    return [row for row in rows if all(row[i] is None or Path(row[i]).is_file() for i in file_columns)]
