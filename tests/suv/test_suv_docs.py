"""Docstring completeness of the SUV API (house style B8) and the public surface."""

from __future__ import annotations

import importlib
import inspect

import pytest

import carpet.suv

MODULES = [
    "carpet.suv.factors",
    "carpet.suv.convert",
    "carpet.suv.decay",
    "carpet.suv.normalization",
    "carpet.suv.overrides",
]


@pytest.mark.parametrize("modname", MODULES)
def test_public_suv_functions_have_notes_references_examples(modname):
    mod = importlib.import_module(modname)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj) or ""
            for section in ("Notes", "References", "Examples"):
                assert f"{section}\n---" in doc, f"{modname}.{name} lacks {section}"


def test_suv_all_is_sorted_and_complete():
    assert carpet.suv.__all__ == sorted(carpet.suv.__all__)
    for name in carpet.suv.__all__:
        assert hasattr(carpet.suv, name)


def test_suv_stage_imports_no_ingest_or_io_stage():
    """House style B2: suv imports only core, units, errors and config."""
    import subprocess
    import sys

    code = (
        "import sys, carpet.suv, carpet.core.acquisition; "
        "bad = sorted(m for m in sys.modules if m.startswith(('carpet.ingest', 'carpet.export', "
        "'carpet.segment', 'carpet.measure', 'carpet.pipeline'))); print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
