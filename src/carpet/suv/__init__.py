"""Vendor-proof SUV: factors from PET headers, refusals with stable codes, application to volumes.

Pure maths on :class:`~carpet.core.acquisition.PetAcquisition` and
:class:`~carpet.core.volume.Volume` (no file I/O except :func:`read_overrides_csv`).

Workflow::

    acq = carpet.ingest.pet_header.read_pet_acquisition(datasets, source=folder)
    factors = compute_suv_factors(acq, overrides=SuvOverrides(weight_kg=80))
    suv = apply_suv(volume_of_rescaled_values, factors, normalization="bw")

Decision rules (methods.md §1.2–1.5)
------------------------------------
* **Units** (0054,1001): ``BQML`` as is; ``CNTS`` with the Philips SUV scale factor
  (7053,1000) (already SUVbw) or else the activity concentration scale factor
  (7053,1009) (→ Bq/mL); ``GML`` = SUV of SUVType (empty = BW; LBM/LBMJAMES128/
  LBMJANMA/IBW converted to SUVbw by W/X); ``CM2ML`` = SUVbsa DuBois (→ SUVbw by
  W[g]/BSA[cm²]); anything else refused.
* **DecayCorrection** (0054,1102): ``START`` (dose decayed to the reference time),
  ``ADMIN`` (no decay), ``NONE`` (per-instance factors, see ``SuvFactors.slice_bw_factors``;
  ``bw_factor`` is then the factor of the earliest-acquired instance).
  CorrectedImage must contain ATTN, and DECY/DECAY unless DecayCorrection is NONE.
* **Reference time** (START): DecayCorrectionDateTime (enhanced PET) if present;
  else SeriesDate/Time when not after the earliest acquisition; else the GE private
  scan datetime (0009,xx0D, ``GEMS_PETD_01``) **only when on the same date as the
  public tags** (de-identification shifts private dates differently: the ACRIN
  23-day trap); else the frame back-computed time ``t_acq + T_ave − FrameReferenceTime``
  (IBSI option B; preferred to the earliest acquisition because cropped or
  re-processed series start later, IBSI DRO_3_2). When SeriesTime is after the
  acquisition and none of these is usable the series is refused
  (MISSING_FRAME_DURATION, an IBSI error case); the earliest acquisition (QIBA
  option 3, warning) is used only when SeriesDate/Time is absent, or when all
  instances share one AcquisitionTime with per-bed FrameReferenceTime (GE
  multi-bed convention: that time is the scan start; no back-computation then). A warning is
  recorded when the chosen time and the frame back-computed one differ by more
  than 60 s (``SuvConfig.reference_time_tolerance_s``).
* **Already-SUV images** (GML, CM2ML, Philips SUV scale factor): the scanner's
  normalisation is undone with the header's weight/height/sex and redone with the
  values used (overrides renormalise; dose/injection overrides do not apply, warned).
* **Injection time**: RadiopharmaceuticalStartDateTime; else StartTime on the date
  of the reference time, one day earlier if that is after the reference time
  (midnight crossing, recorded). A DateTime whose date is more than a day from the
  reference time's (DT and DA shifted differently by de-identification) is used the
  same way, by its time of day (warned). Time-only injection for nuclides with
  T½ > 10 h (⁸⁹Zr, ¹²⁴I) is refused: uptake may exceed 24 h.
* **Plausibility**: dose < 1e4 → MBq; weight > 1000 → g; PatientSize in (100, 260)
  → cm; each decision is a warning in the provenance. For ¹⁸F an uptake time outside
  the EANM 55–75 min window is warned (``SuvConfig.fdg_uptake_window_min``).
* **Sex 'O'**: LBM and IBW are the mean of the male and female values (IBSI-SUV
  manual suggestion), with a warning. Missing sex: SUL/SUVibw are ``None`` (or
  MISSING_SEX when the Units require them).
* SUL default Janmahasatian (``lbm_formula="janma"``; ``james128``/``james120``
  selectable); SUVbsa DuBois (``mosteller`` selectable); IBW clamped to the weight.

Refusal codes (``SuvError.code``; stable)
-----------------------------------------

=============================  ============================================================  ==============
code                           when                                                          IBSI error [*]
=============================  ============================================================  ==============
INCONSISTENT_SERIES            series-level attributes differ between instances              —
UNSUPPORTED_UNITS              Units absent or not BQML/CNTS/GML/CM2ML (PROPCNTS, CPS, …)    PROPCNTS case
UNSUPPORTED_SUV_TYPE           SUVType not usable with the Units (e.g. BSA with GML)         —
CNTS_WITHOUT_SCALE_FACTOR      CNTS without Philips (7053,1000)/(7053,1009)                  CNTS case
NOT_ATTENUATION_CORRECTED      CorrectedImage lacks ATTN                                     —
NOT_DECAY_CORRECTED            START/ADMIN without DECY, or NONE with DECY                   —
UNSUPPORTED_DECAY_CORRECTION   DecayCorrection absent or not START/ADMIN/NONE                —
NONZERO_INTERCEPT              RescaleIntercept ≠ 0                                          —
MISSING_WEIGHT                 PatientWeight absent or 0                                     DRO_error_2_0/2_1
MISSING_HEIGHT                 PatientSize absent/0/implausible when the Units need it       size cases
MISSING_SEX                    PatientSex absent when the Units need it (GML LBM/IBW)        sex case
MISSING_DOSE                   RadionuclideTotalDose absent or 0                             DRO_error_3_0
NEGATIVE_DOSE                  RadionuclideTotalDose < 0                                     DRO_error_3_1
MISSING_HALF_LIFE              no half-life and no known RadionuclideCodeSequence            DRO_error_5_0
MISSING_INJECTION_TIME         no RadiopharmaceuticalStartDateTime nor StartTime             DRO_error_4_0
INJECTION_DATETIME_REQUIRED    time-only injection for a nuclide with T½ > 10 h              DRO_error_4_1/4_2
MISSING_REFERENCE_TIME         no series/acquisition/frame time to decay-correct to          —
MISSING_FRAME_DURATION         NONE without ActualFrameDuration; or SeriesTime after the     frame case
                               acquisition with no frame timing and no GE private time
NEGATIVE_DECAY_TIME            injection after the reference time                            —
IMPLAUSIBLE_VALUE              dose/weight/half-life out of range, decay > 10 half-lives,     —
                               negative scale factor, non-finite factor
NORMALIZATION_UNAVAILABLE      asked for SUL/SUVbsa/SUVibw that could not be computed        —
UNIT_MISMATCH                  ``apply_suv`` on a volume whose unit is not the series Units  —
MISSING_SLICE_UIDS             per-instance factors but no slice SOPInstanceUIDs             —
=============================  ============================================================  ==============

[*] The IBSI-SUV error cases (methods.md §1.2; not yet published as DROs); IDs are
given where methods.md names them.

Invalid parameters (formula names) raise :class:`~carpet.errors.ConfigError`
``INVALID_PARAMETER``; invalid overrides ``INVALID_OVERRIDE``; bad override CSVs
:class:`~carpet.errors.TableValidationError` ``INVALID_OVERRIDES_CSV``.

References
----------
Vácha M. et al. Comprehensive manual for SUV computation and digital reference
objects (IBSI-SUV), oncoray/suv_computation, 2026 (CC BY 4.0). QIBA FDG-PET/CT
profile, SUV pseudocode. cornerstonejs/calculate-suv. QIICR Slicer
SUVFactorCalculator.
"""

from carpet.suv.convert import apply_suv
from carpet.suv.factors import NORMALIZATIONS, SUPPORTED_UNITS, SuvFactors, compute_suv_factors
from carpet.suv.overrides import SuvOverrides, merge_overrides, overrides_for, read_overrides_csv

#: Every refusal code :func:`compute_suv_factors` / :func:`apply_suv` can raise.
REFUSAL_CODES = (
    "CNTS_WITHOUT_SCALE_FACTOR",
    "IMPLAUSIBLE_VALUE",
    "INCONSISTENT_SERIES",
    "INJECTION_DATETIME_REQUIRED",
    "MISSING_DOSE",
    "MISSING_FRAME_DURATION",
    "MISSING_HALF_LIFE",
    "MISSING_HEIGHT",
    "MISSING_INJECTION_TIME",
    "MISSING_REFERENCE_TIME",
    "MISSING_SEX",
    "MISSING_SLICE_UIDS",
    "MISSING_WEIGHT",
    "NEGATIVE_DECAY_TIME",
    "NEGATIVE_DOSE",
    "NONZERO_INTERCEPT",
    "NORMALIZATION_UNAVAILABLE",
    "NOT_ATTENUATION_CORRECTED",
    "NOT_DECAY_CORRECTED",
    "UNIT_MISMATCH",
    "UNSUPPORTED_DECAY_CORRECTION",
    "UNSUPPORTED_SUV_TYPE",
    "UNSUPPORTED_UNITS",
)

__all__ = [
    "NORMALIZATIONS",
    "REFUSAL_CODES",
    "SUPPORTED_UNITS",
    "SuvFactors",
    "SuvOverrides",
    "apply_suv",
    "compute_suv_factors",
    "merge_overrides",
    "overrides_for",
    "read_overrides_csv",
]
