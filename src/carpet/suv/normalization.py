"""Body-size normalisers for SUV: lean body mass (SUL), body surface area, ideal body weight.

All functions take weight in kg and height in m (the DICOM units of PatientWeight
and PatientSize) and return kg (LBM, IBW) or m² (BSA). Sex is ``"M"``, ``"F"`` or
``"O"``; for ``"O"`` the mean of the male and female values is returned, as the
IBSI-SUV manual suggests (there is no consensus; calculate-suv refuses, Slicer
warns). :func:`carpet.suv.compute_suv_factors` records a warning when it does so.

References
----------
.. [1] Vácha M. et al. Comprehensive manual for SUV computation and digital
   reference objects for its verification (IBSI-SUV), oncoray/suv_computation, 2026.
.. [2] James WPT. Research on obesity. HMSO, 1976 (LBM, "James"/"Morgan").
.. [3] Janmahasatian S. et al. Quantification of lean bodyweight. Clin Pharmacokinet
   2005;44:1051-65. doi:10.2165/00003088-200544100-00004
.. [4] Du Bois D, Du Bois EF. A formula to estimate the approximate surface area if
   height and weight be known. Arch Intern Med 1916;17:863-71.
.. [5] Mosteller RD. Simplified calculation of body-surface area. N Engl J Med
   1987;317:1098. doi:10.1056/NEJM198710223171717
.. [6] Devine BJ. Gentamicin therapy. Drug Intell Clin Pharm 1974;8:650-5 (IBW).
"""

from __future__ import annotations

import math

from carpet.config import BSA_FORMULAS, LBM_FORMULAS

__all__ = [
    "LBM_FORMULAS",
    "BSA_FORMULAS",
    "lean_body_mass_kg",
    "body_surface_area_m2",
    "body_surface_areas_m2",
    "ideal_body_weight_kg",
    "lbm_formula_text",
    "bsa_formula_text",
]

# LBM_FORMULAS / BSA_FORMULAS (the selectable formula names) live in carpet.config.

_LBM_TEXT = {
    "janma": "Janmahasatian 2005: M 9270*W/(6680+216*BMI), F 9270*W/(8780+244*BMI) [kg, BMI=W/H_m^2]",
    "james128": "James 1976: M 1.10*W-128*(W/H_cm)^2, F 1.07*W-148*(W/H_cm)^2 [kg]",
    "james120": "James/Morgan: M 1.10*W-120*(W/H_cm)^2, F 1.07*W-148*(W/H_cm)^2 [kg]",
}
_BSA_TEXT = {
    "dubois": "DuBois 1916: 0.007184*H_cm^0.725*W^0.425 [m2]",
    "mosteller": "Mosteller 1987: sqrt(H_cm*W/3600) [m2]",
}


def lbm_formula_text(formula: str) -> str:
    """Human-readable LBM formula string for provenance.

    Notes
    -----
    The strings restate the formulas of :func:`lean_body_mass_kg`.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026); methods.md §1.1.

    Examples
    --------
    >>> lbm_formula_text("janma").split(":")[0]
    'Janmahasatian 2005'
    """
    return _LBM_TEXT[formula]


def bsa_formula_text(formula: str) -> str:
    """Human-readable BSA formula string for provenance.

    Notes
    -----
    The strings restate the formulas of :func:`body_surface_area_m2`.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026); methods.md §1.1.

    Examples
    --------
    >>> bsa_formula_text("dubois").split(":")[0]
    'DuBois 1916'
    """
    return _BSA_TEXT[formula]


def _by_sex(sex: str, male: float, female: float) -> float:
    if sex == "M":
        return male
    if sex == "F":
        return female
    if sex == "O":
        return 0.5 * (male + female)
    raise ValueError(f"sex must be 'M', 'F' or 'O'; got {sex!r}")


def lean_body_mass_kg(weight_kg: float, height_m: float, sex: str, formula: str = "janma") -> float:
    """Lean body mass in kg.

    Parameters
    ----------
    weight_kg : float
        Body weight W, kg.
    height_m : float
        Height, m (H_cm = 100·height_m).
    sex : {"M", "F", "O"}
        ``"O"`` gives the mean of the male and female values.
    formula : {"janma", "james128", "james120"}

    Returns
    -------
    float
        LBM, kg.

    Notes
    -----
    * Janmahasatian: male ``9270·W/(6680 + 216·BMI)``, female ``9270·W/(8780 + 244·BMI)``,
      BMI = W/H_m².
    * James 128: male ``1.10·W − 128·(W/H_cm)²``, female ``1.07·W − 148·(W/H_cm)²``.
    * James 120 ("Morgan", DICOM ``LBM``): as James with 120 for males.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026); James 1976; Janmahasatian et al. 2005.

    Examples
    --------
    >>> round(lean_body_mass_kg(75, 1.85, "M", "janma"), 4)
    60.9153
    >>> round(lean_body_mass_kg(75, 1.85, "F", "james120"), 4)
    55.9257
    >>> round(lean_body_mass_kg(75, 1.85, "M", "james128"), 4)
    61.4627
    """
    if formula not in LBM_FORMULAS:
        raise ValueError(f"lbm formula must be one of {LBM_FORMULAS}; got {formula!r}")
    w = float(weight_kg)
    h_cm = 100.0 * float(height_m)
    if formula == "janma":
        bmi = w / (float(height_m) ** 2)
        male = 9270.0 * w / (6680.0 + 216.0 * bmi)
        female = 9270.0 * w / (8780.0 + 244.0 * bmi)
    else:
        k = 128.0 if formula == "james128" else 120.0
        male = 1.10 * w - k * (w / h_cm) ** 2
        female = 1.07 * w - 148.0 * (w / h_cm) ** 2
    return _by_sex(sex, male, female)


def body_surface_area_m2(weight_kg: float, height_m: float, formula: str = "dubois") -> float:
    """Body surface area in m².

    Parameters
    ----------
    weight_kg : float
        Body weight, kg.
    height_m : float
        Height, m.
    formula : {"dubois", "mosteller"}

    Returns
    -------
    float
        BSA, m² (SUVbsa uses cm² = 10⁴·m²).

    Notes
    -----
    DuBois ``0.007184·H_cm^0.725·W^0.425``; Mosteller ``sqrt(H_cm·W/3600)``.

    References
    ----------
    Du Bois & Du Bois 1916; Mosteller 1987.

    Examples
    --------
    >>> round(body_surface_area_m2(75, 1.85, "dubois"), 5), round(body_surface_area_m2(75, 1.85, "mosteller"), 5)
    (1.98138, 1.9632)
    """
    if formula not in BSA_FORMULAS:
        raise ValueError(f"bsa formula must be one of {BSA_FORMULAS}; got {formula!r}")
    w = float(weight_kg)
    h_cm = 100.0 * float(height_m)
    if formula == "dubois":
        return 0.007184 * h_cm**0.725 * w**0.425
    return math.sqrt(h_cm * w / 3600.0)


def ideal_body_weight_kg(
    weight_kg: float, height_m: float, sex: str, *, clamp: bool = True
) -> float:
    """Ideal body weight in kg (Devine), clamped to the body weight as Slicer does.

    Parameters
    ----------
    weight_kg : float
        Body weight, kg (the clamp's upper bound).
    height_m : float
        Height, m.
    sex : {"M", "F", "O"}
    clamp : bool
        If true (default), return ``min(IBW, weight_kg)``.

    Returns
    -------
    float
        IBW, kg.

    Notes
    -----
    Male ``48.0 + 1.06·(H_cm − 152)``, female ``45.5 + 0.91·(H_cm − 152)``.

    References
    ----------
    IBSI-SUV manual; Slicer SUVFactorCalculator (clamp).

    Examples
    --------
    >>> round(ideal_body_weight_kg(90, 1.85, "M"), 2), round(ideal_body_weight_kg(90, 1.85, "F"), 2)
    (82.98, 75.53)
    >>> ideal_body_weight_kg(60, 1.85, "M")
    60.0
    """
    h_cm = 100.0 * float(height_m)
    ibw = _by_sex(sex, 48.0 + 1.06 * (h_cm - 152.0), 45.5 + 0.91 * (h_cm - 152.0))
    return min(ibw, float(weight_kg)) if clamp else ibw


def body_surface_areas_m2(weight_kg: float | None, height_m: float | None) -> dict[str, float | None]:
    """BSA by every formula of ``BSA_FORMULAS``, or ``None`` each when weight or height is unknown.

    Parameters
    ----------
    weight_kg : float or None
        Body weight, kg.
    height_m : float or None
        Height, m.

    Returns
    -------
    dict
        ``{"dubois": m², "mosteller": m²}`` (values ``None`` without weight or height).

    Notes
    -----
    See :func:`body_surface_area_m2`. SDmax (Dmax / BSA) is reported with both formulas
    because the one Cottereau used is not stated (methods.md §3).

    References
    ----------
    Du Bois & Du Bois 1916; Mosteller 1987.

    Examples
    --------
    >>> {k: round(v, 4) for k, v in body_surface_areas_m2(75, 1.85).items()}
    {'dubois': 1.9814, 'mosteller': 1.9632}
    >>> body_surface_areas_m2(None, 1.85)
    {'dubois': None, 'mosteller': None}
    """
    if not weight_kg or not height_m:
        return dict.fromkeys(BSA_FORMULAS)
    return {f: float(body_surface_area_m2(float(weight_kg), float(height_m), formula=f)) for f in BSA_FORMULAS}
