"""Fixtures of the SUV tests (helpers live in suv_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dro_root(shared_data: Path) -> Path:
    root = shared_data / "ibsi-suv-dro" / "DRO"
    if not root.is_dir():
        pytest.skip(f"IBSI SUV DROs not found at {root}")
    return root


@pytest.fixture(scope="session")
def acrin_root(shared_data: Path) -> Path:
    root = shared_data / "acrin-nsclc-fdg-pet-042" / "pet_uncompressed"
    if not root.is_dir():
        pytest.skip(f"ACRIN PET series not found at {root}")
    return root
