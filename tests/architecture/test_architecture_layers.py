"""Layering rules of docs/architecture.md, checked in a fresh interpreter.

The pure stages (core, suv, segment, measure, score) must not pull in file I/O
(ingest, export), the orchestrators (pipeline, batch, response, review) or the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN_FOR_PURE = ("carpet.ingest", "carpet.export", "carpet.pipeline", "carpet.cli",
                      "carpet.batch", "carpet.review", "carpet.response", "carpet.dicomweb")

PURE = {
    "carpet.core": FORBIDDEN_FOR_PURE + ("carpet.suv", "carpet.segment", "carpet.measure", "carpet.score"),
    "carpet.suv": FORBIDDEN_FOR_PURE + ("carpet.segment", "carpet.measure", "carpet.score"),
    "carpet.measure": FORBIDDEN_FOR_PURE + ("carpet.segment", "carpet.suv", "carpet.score"),
    # segment uses measure's SUVpeak (a50p) but never the reverse
    "carpet.segment": FORBIDDEN_FOR_PURE + ("carpet.suv", "carpet.score"),
    "carpet.score": FORBIDDEN_FOR_PURE + ("carpet.segment", "carpet.suv", "carpet.measure"),
}


def _loaded_after_import(module: str, then: str = "") -> set[str]:
    code = (
        "import importlib, json, sys; mod = importlib.import_module(%r); %s; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('carpet'))))" % (module, then or "pass")
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_stage_does_not_import_io_or_orchestrators(module):
    loaded = _loaded_after_import(module)
    bad = sorted(m for m in loaded for f in PURE[module] if m == f or m.startswith(f + "."))
    assert not bad, f"{module} imports {bad}"


def test_cli_help_does_not_import_heavy_stages():
    # `carpet --help` must stay fast: commands import their stage inside the function.
    loaded = _loaded_after_import("carpet.cli.main", "mod.get_app()")
    assert not any(m.startswith(("carpet.pipeline", "carpet.survival", "carpet.review.server")) for m in loaded)


def test_public_all_is_sorted_and_exported():
    import carpet

    assert carpet.__all__ == sorted(carpet.__all__)
    for name in carpet.__all__:
        assert hasattr(carpet, name), name
