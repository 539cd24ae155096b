"""Every computing function of the response stage documents its formula and its source."""

from __future__ import annotations

import inspect

import pytest

from carpet.measure import reference
from carpet.response import categories, kinetics, matching, registration

FUNCTIONS = [
    reference.measure_voi,
    reference.place_liver_voi,
    reference.place_mbp_voi,
    registration.register_rigid,
    matching.match_lesions,
    matching.residual_uptake,
    kinetics.compute_kinetics,
    categories.deauville_proxy,
    categories.qpet_score,
    categories.lugano_proxy,
    categories.lyric_candidates,
]


@pytest.mark.parametrize("func", FUNCTIONS, ids=lambda f: f.__name__)
def test_response_docstrings_have_notes_and_references(func):
    doc = inspect.getdoc(func) or ""
    for section in ("Parameters", "Notes", "References"):
        assert f"\n{section}\n" in doc, (
            f"{func.__module__}.{func.__name__} lacks a {section} section"
        )
