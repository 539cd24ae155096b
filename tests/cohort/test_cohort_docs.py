"""Docstring completeness (house style B8), sorted public surfaces and stage import rules."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

MODULES = [
    "carpet.score.ipi",
    "carpet.score.aaipi",
    "carpet.score.nccn_ipi",
    "carpet.score.car_hematotox",
    "carpet.score.vercellino",
    "carpet.score.dean",
    "carpet.score.impi",
    "carpet.score.voltin",
    "carpet.score",
    "carpet.survival.concordance",
    "carpet.survival.tdauc",
    "carpet.survival.cutoffs",
    "carpet.survival.estimates",
    "carpet.survival.analysis",
]


@pytest.mark.parametrize("modname", MODULES)
def test_public_functions_have_notes_references_examples(modname):
    mod = importlib.import_module(modname)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj) or ""
            for section in ("Notes", "References", "Examples"):
                assert f"{section}\n---" in doc, f"{modname}.{name} lacks {section}"


@pytest.mark.parametrize(
    "modname", ["carpet.score", "carpet.survival", "carpet.clinical", "carpet.report"]
)
def test_all_is_sorted_and_complete(modname):
    mod = importlib.import_module(modname)
    assert mod.__all__ == sorted(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_every_score_declares_its_verification():
    from carpet.score import SCORE_INFOS

    assert set(SCORE_INFOS) == {
        "ipi",
        "aaipi",
        "nccn_ipi",
        "car_hematotox",
        "vercellino",
        "dean",
        "impi",
        "voltin",
    }
    for info in SCORE_INFOS.values():
        assert info.reference
        assert info.verified == (not info.unverified_rules)


def test_score_stage_imports_only_core_modules():
    """House style B2: score imports only core, units, errors and config (and its own package)."""
    code = (
        "import sys, carpet.score; "
        "bad = sorted(m for m in sys.modules if m.startswith('carpet.') and not m.startswith("
        "('carpet.score', 'carpet.core', 'carpet.units', 'carpet.errors', 'carpet.config', 'carpet._version')));"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
