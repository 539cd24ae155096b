"""Shared fixtures: fixed seeds, the location of ../shared/data, a CLI runner."""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tests run with --import-mode=importlib (test files in different folders may share a
# basename). Helper modules beside the tests (builders, harnesses) are imported by bare
# name, so each test folder is put on sys.path; helper module names must be unique.
for _folder in sorted(p for p in Path(__file__).parent.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
SHARED_DATA = Path(os.environ.get("CARPET_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fixed seed (never random per run)."""
    return np.random.default_rng(20261201)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped with a clear reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (expected ../shared/data beside the checkout)")
    return SHARED_DATA


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run ``carpet ARGS`` in-process through the real entry point (error mapping included)."""
    from carpet.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    argv0 = sys.argv
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv0
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """Fixture returning :func:`run_cli`."""
    return run_cli
