"""Body-size normalisers against the test vectors of methods.md §1.1 and calculate-suv's constants."""

from __future__ import annotations

import pytest

from carpet.suv.decay import (
    decay_factor,
    frame_average_time_s,
    frame_decay_correction,
    half_life_from_code,
)
from carpet.suv.normalization import body_surface_area_m2, ideal_body_weight_kg, lean_body_mass_kg

W, H = 75.0, 1.85


@pytest.mark.parametrize(
    ("formula", "sex", "expected_kg"),
    [
        ("james120", "M", 62.777575),  # calculate-suv 62777.575 g
        ("james120", "F", 55.925676),  # calculate-suv 55925.676 g
        ("james128", "M", 61.4627),  # methods.md §1.1
        ("janma", "M", 60.915336),  # calculate-suv 60915.336 g
        ("janma", "F", 49.214380),  # calculate-suv 49214.380 g
    ],
)
def test_lbm_vectors(formula, sex, expected_kg):
    assert lean_body_mass_kg(W, H, sex, formula) == pytest.approx(expected_kg, abs=5e-5)


def test_bsa_vectors():
    assert body_surface_area_m2(W, H, "dubois") * 1e4 == pytest.approx(
        19813.758427, rel=1e-9
    )  # calculate-suv
    assert body_surface_area_m2(W, H, "mosteller") == pytest.approx(1.96320, abs=5e-6)


def test_ibw_vectors_and_clamp():
    assert ideal_body_weight_kg(W, H, "M", clamp=False) == pytest.approx(82.98)
    assert ideal_body_weight_kg(W, H, "F", clamp=False) == pytest.approx(75.53)
    # Slicer clamps IBW to the body weight
    assert ideal_body_weight_kg(W, H, "M") == 75.0
    assert ideal_body_weight_kg(W, H, "O", clamp=False) == pytest.approx((82.98 + 75.53) / 2)


def test_sex_other_is_mean_and_bad_inputs_raise():
    m, f = lean_body_mass_kg(W, H, "M"), lean_body_mass_kg(W, H, "F")
    assert lean_body_mass_kg(W, H, "O") == pytest.approx((m + f) / 2)
    with pytest.raises(ValueError):
        lean_body_mass_kg(W, H, "X")
    with pytest.raises(ValueError):
        lean_body_mass_kg(W, H, "M", "boer")
    with pytest.raises(ValueError):
        body_surface_area_m2(W, H, "haycock")


def test_james_non_monotonic_at_high_bmi():
    """James LBM falls towards 0 at very high BMI (Nyman 2016); Janmahasatian does not."""
    assert lean_body_mass_kg(250, 1.60, "F", "james128") < lean_body_mass_kg(
        150, 1.60, "F", "james128"
    )
    assert lean_body_mass_kg(250, 1.60, "F", "janma") > lean_body_mass_kg(150, 1.60, "F", "janma")


def test_decay_helpers():
    assert decay_factor(0, 6586.2) == 1.0
    assert decay_factor(2 * 6586.2, 6586.2) == pytest.approx(0.25)
    assert frame_average_time_s(1.0, 6586.2) == pytest.approx(0.5, abs=1e-4)  # short frame -> T/2
    # the frame-average value times the correction is the value at frame start:
    # mean of exp(-l t) over [0, T] = (1 - exp(-lT)) / (lT)
    import math

    lam, T = math.log(2) / 6586.2, 600.0
    mean = (1 - math.exp(-lam * T)) / (lam * T)
    assert frame_decay_correction(T, 6586.2) * mean == pytest.approx(1.0, rel=1e-12)
    assert math.exp(-lam * frame_average_time_s(T, 6586.2)) == pytest.approx(mean, rel=1e-12)
    assert half_life_from_code("C-131A3") == (4062.6, "GA-68")
    assert half_life_from_code(None, "Fluorine-18") == (6586.2, "F-18")
    assert half_life_from_code(None, None) is None
