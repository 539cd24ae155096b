"""Each Lugano proxy category (and Deauville 1/4/5) from constructed phantom follow-ups."""

from __future__ import annotations

from datetime import date

import pytest

from carpet.pipeline import analyze
from carpet.response.compare import AnalysedTimepoint, compare_pair
from carpet.response.registration import identity_registration
from carpet.response.timepoints import assign_roles
from carpet.synthetic.phantom import ORGAN_SUV, LesionSpec, make_whole_body_study

SITE = (-55.0, 20.0, -430.0)  # right hilar node
TPS = assign_roles([date(2024, 1, 20), date(2024, 2, 26)], infusion_date=date(2024, 1, 27))


def _tp(i, study):
    r = analyze(study)
    return AnalysedTimepoint(
        TPS[i], r.suv, r.labels, r.lesions, r.patient, r.context["liver"], r.context["mbp"]
    )


@pytest.fixture(scope="module")
def baseline():
    return _tp(
        0,
        make_whole_body_study(
            fov="thorax",
            spacing_mm=(4, 4, 4),
            lesions=[LesionSpec(SITE, 14.0, 12.0)],
            with_ct=False,
        ),
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lesions", "ds", "lugano"),
    [
        ([], 1, "CMR"),  # gone: residual = lung uptake (0.4) at the site, <= 0.5 x MBP
        ([LesionSpec(SITE, 10.0, 4.2)], 4, "PMR"),  # 4.2 in (liver 2.2, 2 x liver], -65 %
        ([LesionSpec(SITE, 14.0, 11.0)], 5, "NMR"),  # > 2 x liver, -8 %
        ([LesionSpec(SITE, 14.0, 16.0)], 5, "PMD"),  # +33 %
        (
            [LesionSpec(SITE, 10.0, 4.2), LesionSpec((130.0, 10.0, -330.0), 12.0, 6.0)],
            5,
            "PMD",
        ),  # new lesion
    ],
)
def test_response_constructed_lugano_categories(baseline, lesions, ds, lugano):
    fu = _tp(
        1, make_whole_body_study(fov="thorax", spacing_mm=(4, 4, 4), lesions=lesions, with_ct=False)
    )
    s = compare_pair(baseline, fu, identity_registration()).summary
    assert s["deauville_proxy"] == ds and s["lugano_proxy"] == lugano
    assert s["categories"]["status"] == "proposed"
    if not lesions:
        u = s["categories"]["uptake_suv"]
        assert u == pytest.approx(ORGAN_SUV["lungs"]) and s["matching"]["disappeared"] == 1
        assert s["delta"]["tmtv_pct"] == -100.0 and s["delta"]["tmtv_growth_per_day"] is None
    if lugano == "PMD" and len(lesions) == 2:
        assert s["new_lesion_count"] == 1 and "IR2" in s["lyric_candidates"]
