"""Radioactive decay helpers: decay constant, decay factors, frame-average time, half-lives.

References
----------
.. [1] Vácha M. et al. IBSI-SUV manual (oncoray/suv_computation), section
   "Radiopharmaceutical dose": decay correction START/ADMIN/NONE and the frame
   back-computation of the reference time.
.. [2] QIBA FDG-PET/CT profile, SUV pseudocode.
.. [3] NNDC/IAEA nuclear data (half-lives).
"""

from __future__ import annotations

import math
import re

__all__ = [
    "HALF_LIFE_BY_CODE",
    "HALF_LIFE_BY_NUCLIDE",
    "decay_constant_per_s",
    "decay_factor",
    "frame_average_time_s",
    "frame_decay_correction",
    "half_life_from_code",
]

#: Half-lives (s) by nuclide. F-18 109.77 min; Ga-68 67.71 min; C-11 20.36 min;
#: N-13 9.965 min; O-15 122.24 s; Cu-64 12.701 h; Zr-89 78.41 h; Rb-82 1.273 min;
#: I-124 4.176 d. (NNDC)
HALF_LIFE_BY_NUCLIDE: dict[str, float] = {
    "F-18": 6586.2,
    "GA-68": 4062.6,
    "C-11": 1221.8,
    "N-13": 597.9,
    "O-15": 122.24,
    "CU-64": 45721.0,
    "ZR-89": 282276.0,
    "RB-82": 76.38,
    "I-124": 360806.0,
}

#: RadionuclideCodeSequence code values (SNOMED-RT "SRT" of DICOM CID 4020) → nuclide.
#: Only codes we are sure of; other nuclides are recognised from the CodeMeaning.
HALF_LIFE_BY_CODE: dict[str, str] = {
    "C-111A1": "F-18",
    "C-131A3": "GA-68",
    "C-105A1": "C-11",
    "C-107A1": "N-13",
}

_ELEMENTS = {
    "FLUORINE": "F",
    "GALLIUM": "GA",
    "CARBON": "C",
    "NITROGEN": "N",
    "OXYGEN": "O",
    "COPPER": "CU",
    "ZIRCONIUM": "ZR",
    "RUBIDIUM": "RB",
    "IODINE": "I",
}


def _nuclide_from_meaning(meaning: str) -> str | None:
    """``'^18^Fluorine'``, ``'Fluorine-18'``, ``'F18'``, ``'Ga68'`` → ``'F-18'``, ``'GA-68'``."""
    s = meaning.upper().replace("^", " ").replace("-", " ")
    mass = re.search(r"\d+", s)
    if not mass:
        return None
    for name, sym in _ELEMENTS.items():
        if name in s:
            key = f"{sym}-{int(mass.group())}"
            return key if key in HALF_LIFE_BY_NUCLIDE else None
    m = re.fullmatch(r"\s*([A-Z]{1,2})\s*(\d+)\s*|\s*(\d+)\s*([A-Z]{1,2})\s*", s)
    if m:
        sym = m.group(1) or m.group(4)
        num = m.group(2) or m.group(3)
        key = f"{sym}-{int(num)}"
        return key if key in HALF_LIFE_BY_NUCLIDE else None
    return None


def half_life_from_code(code: str | None, meaning: str | None = None) -> tuple[float, str] | None:
    """Half-life (s) from a RadionuclideCodeSequence code value, else its code meaning.

    Returns
    -------
    (half_life_s, nuclide) or None
        ``None`` when neither identifies a known nuclide.

    Notes
    -----
    Codes of DICOM CID 4020 are looked up first; otherwise the mass number and
    element name or symbol are parsed from the meaning (``^18^Fluorine``, ``Ga68``).

    References
    ----------
    DICOM PS3.16 CID 4020 "PET Radionuclide"; NNDC half-lives; IBSI-SUV manual
    ("If the half-life is missing, derive it from RadionuclideCodeSequence").

    Examples
    --------
    >>> half_life_from_code("C-111A1")
    (6586.2, 'F-18')
    >>> half_life_from_code("XYZ", "^68^Gallium")
    (4062.6, 'GA-68')
    >>> half_life_from_code(None, "Zirconium-89")
    (282276.0, 'ZR-89')
    >>> half_life_from_code("nonsense", "unknown") is None
    True
    """
    if code:
        nuclide = HALF_LIFE_BY_CODE.get(code.strip().upper())
        if nuclide:
            return HALF_LIFE_BY_NUCLIDE[nuclide], nuclide
    if meaning:
        nuclide = _nuclide_from_meaning(meaning)
        if nuclide:
            return HALF_LIFE_BY_NUCLIDE[nuclide], nuclide
    return None


def decay_constant_per_s(half_life_s: float) -> float:
    """λ = ln 2 / T½ (1/s).

    Notes
    -----
    ``λ = ln 2 / T½``.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026), "Radiopharmaceutical dose".

    Examples
    --------
    >>> round(decay_constant_per_s(6586.2) * 1e4, 6)
    1.052424
    """
    return math.log(2.0) / half_life_s


def decay_factor(interval_s: float, half_life_s: float) -> float:
    """Fraction remaining after ``interval_s``: ``exp(−λ·t)``.

    Notes
    -----
    ``exp(−λ·t) = 2^(−t/T½)``; ``D_ref = D_adm · decay_factor(t_ref − t_adm, T½)``.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026), "Radiopharmaceutical dose".

    Examples
    --------
    >>> decay_factor(6586.2, 6586.2)
    0.5
    """
    return 2.0 ** (-interval_s / half_life_s)


def frame_average_time_s(frame_duration_s: float, half_life_s: float) -> float:
    """Average count-rate time within a frame, s after its start.

    Notes
    -----
    ``T_ave = (1/λ)·ln(λT / (1 − exp(−λT)))`` (IBSI-SUV manual), which tends to T/2
    for short frames.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026), "Radiopharmaceutical dose".

    Examples
    --------
    >>> round(frame_average_time_s(603.0, 6586.2), 2)
    299.91
    >>> frame_average_time_s(0.0, 6586.2)
    0.0
    """
    lam = decay_constant_per_s(half_life_s)
    x = lam * frame_duration_s
    if x <= 0:
        return 0.0
    return math.log(x / -math.expm1(-x)) / lam


def frame_decay_correction(frame_duration_s: float, half_life_s: float) -> float:
    """Factor turning a frame-average (not decay-corrected) value into the value at frame start.

    Notes
    -----
    ``λT / (1 − exp(−λT))`` (IBSI-SUV manual, DecayCorrection NONE); 1 for T → 0.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026), "Radiopharmaceutical dose".

    Examples
    --------
    >>> round(frame_decay_correction(603.0, 6586.2), 6)
    1.032066
    """
    x = decay_constant_per_s(half_life_s) * frame_duration_s
    if x <= 0:
        return 1.0
    return x / -math.expm1(-x)
