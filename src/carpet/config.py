"""All defaults of carpet, as frozen dataclasses validated on construction.

One section per stage; every threshold, cut-off and formula variant is a named
parameter here (methods.md: "never a hard-coded literal"). Config files (TOML)
map onto these dataclasses and unknown keys are errors (:func:`from_mapping`).
The resolved configuration is written into every output's provenance.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from carpet.errors import ConfigError

__all__ = [
    "BSA_FORMULAS",
    "COHORT_ENDPOINTS",
    "LBM_FORMULAS",
    "PHYSIO_ORGANS",
    "SEGMENTATION_METHODS",
    "AnalysisConfig",
    "BatchConfig",
    "CohortConfig",
    "ReferenceConfig",
    "ResponseConfig",
    "ScoreConfig",
    "SuvConfig",
    "from_mapping",
    "to_dict",
]

T = TypeVar("T")


def from_mapping(cls: type[T], mapping: dict[str, Any], *, source: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys are a :class:`ConfigError`.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class C:
    ...     a: int = 1
    >>> from_mapping(C, {"a": 2})
    C(a=2)
    >>> from_mapping(C, {"b": 2})
    Traceback (most recent call last):
    ...
    carpet.errors.ConfigError: config: unknown key(s) ['b'] for C; known: ['a']
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(names)}",
            code="UNKNOWN_CONFIG_KEY",
        )
    return cls(**mapping)


def to_dict(config: Any) -> dict[str, Any]:
    """Resolved configuration as plain JSON-able data (for provenance)."""
    return dataclasses.asdict(config)


# ----------------------------------------------------------------------------- SUV (ingest/suv)

#: SUL formulas (DICOM SUVType in brackets): ``janma`` (LBMJANMA), ``james128``
#: (LBMJAMES128), ``james120`` (LBM, "Morgan"; calculate-suv's). methods.md §1.1.
LBM_FORMULAS: tuple[str, ...] = ("janma", "james128", "james120")
#: Body-surface-area formulas; DICOM CM2ML images always use ``dubois``.
BSA_FORMULAS: tuple[str, ...] = ("dubois", "mosteller")


@dataclasses.dataclass(frozen=True)
class SuvConfig:
    """Settings of the SUV conversion (:func:`carpet.suv.compute_suv_factors`).

    Parameters
    ----------
    lbm_formula : {"janma", "james128", "james120"}
        LBM formula of SUL; Janmahasatian by default (methods.md §1.1).
    bsa_formula : {"dubois", "mosteller"}
        BSA formula of SUVbsa.
    reference_time_tolerance_s : float
        Warn when the reference time used and the frame back-computed one differ
        by more than this, s (methods.md §1.2: 60 s suggested).
    fdg_uptake_window_min : tuple of float
        For ¹⁸F, warn when the injection-to-reference interval is outside this
        window, min (EANM FDG PET/CT guideline v2.0, Boellaard et al. EJNMMI
        2015;42:328: 60 min, 55–75 min acceptable). A warning, never a refusal.

    Examples
    --------
    >>> SuvConfig().lbm_formula
    'janma'
    >>> SuvConfig(lbm_formula="boer")
    Traceback (most recent call last):
    ...
    carpet.errors.ConfigError: SuvConfig.lbm_formula must be one of ('janma', 'james128', 'james120'); got 'boer'
    """

    lbm_formula: str = "janma"
    bsa_formula: str = "dubois"
    reference_time_tolerance_s: float = 60.0
    fdg_uptake_window_min: tuple[float, float] = (55.0, 75.0)

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.fdg_uptake_window_min)
        if not 0 <= lo < hi:
            raise ConfigError("SuvConfig.fdg_uptake_window_min must be (low, high) min with 0 <= low < high; got "
                              f"{self.fdg_uptake_window_min!r}", code="INVALID_PARAMETER")
        object.__setattr__(self, "fdg_uptake_window_min", (lo, hi))
        if self.lbm_formula not in LBM_FORMULAS:
            raise ConfigError(f"SuvConfig.lbm_formula must be one of {LBM_FORMULAS}; got {self.lbm_formula!r}",
                              code="INVALID_PARAMETER")
        if self.bsa_formula not in BSA_FORMULAS:
            raise ConfigError(f"SuvConfig.bsa_formula must be one of {BSA_FORMULAS}; got {self.bsa_formula!r}",
                              code="INVALID_PARAMETER")
        if not self.reference_time_tolerance_s >= 0:
            raise ConfigError("SuvConfig.reference_time_tolerance_s must be >= 0 s; got "
                              f"{self.reference_time_tolerance_s!r}", code="INVALID_PARAMETER")

# ----------------------------------------------------------------------------- segmentation/measurement (analyze)

#: Segmentation methods of ``carpet analyze`` (methods.md §2.1).
SEGMENTATION_METHODS: tuple[str, ...] = ("suv4", "suv2.5", "pct41", "percist", "a50p", "mv2", "mv3")

#: Physiological organs that automatic exclusion can remove (codes of ``AnalysisResult.excluded``).
PHYSIO_ORGANS: tuple[str, ...] = ("brain", "bladder", "kidney", "myocardium", "ureter")


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    """Every default of lesion segmentation and measurement (``carpet analyze``).

    Parameters
    ----------
    method : str
        Segmentation method applied to each preselected region: ``suv4`` (SUV ≥ 4.0),
        ``suv2.5``, ``pct41`` (41 % of the lesion's own SUVmax), ``percist``
        (1.5 × liver SUVmean + 2 SD), ``a50p`` (50 % of SUVpeak, background
        adapted), ``mv2`` / ``mv3`` (≥ 2 / all 3 of the SUV 2.5, SUV 4.0 and 41 % masks).
    preselect_threshold_suv : float
        SUV of the automatic preselection (international TMTV benchmark: 4.0).
    min_volume_ml : float
        Minimum volume (mL) of a preselected region. Default 3.0 mL, as the
        benchmark's automatic preselection (Boellaard et al. JNM 2024); smaller
        lesions are added by the reader (``add`` edit, no minimum).
    connectivity : int
        Voxel connectivity of connected regions: 6, 18 or 26 (default 26).
    physio_exclusion : bool
        Remove brain, bladder (+ ureters), kidneys and myocardium automatically.
    fixed_threshold_suv : float
        Threshold of ``suv4``-style fixed segmentation (4.0).
    low_threshold_suv : float
        Threshold of ``suv2.5`` (2.5).
    pct_of_max : float
        Fraction of the lesion SUVmax of ``pct41`` (0.41).
    a50p_fraction : float
        Fraction of the background-corrected SUVpeak of ``a50p`` (0.5).
    background_shell_mm : tuple of float
        Inner and outer distance (mm) of the shell around a region where ``a50p``
        measures local background (median SUV).
    percist_liver_factor, percist_sd_factor : float
        PERCIST threshold = factor × liver SUVmean + sd_factor × liver SD (1.5, 2.0).
    peak_volume_ml : float
        Volume of the SUVpeak sphere (1 mL ⇒ radius 6.2035 mm).
    peak_center : str
        ``any_voxel_in_lesion`` (PERCIST: highest mean anywhere) or ``max_voxel``.
    bsa_formula : str
        Body-surface-area formula of SDmax: ``dubois`` (default) or ``mosteller``;
        both are reported.
    liver_range_suv : tuple of float
        EANM plausibility range of liver SUVmean (1.3, 3.0); outside gives a QualityWarning.
    write_mip : bool
        Write the MIP picture ``mip.png``.
    reference_regions : bool
        Place the liver and blood-pool reference VOIs (liver_suv_mean, mbp_suv_mean,
        tumour-to-liver ratio, PERCIST threshold, EANM liver QC).
    max_growth_mm : float
        A lesion grown below the preselection threshold (``suv2.5``, ``pct41``, ...)
        stays within this distance (mm) of its preselected region, so a low threshold
        never floods a neighbouring organ (20 mm).
    """

    method: str = "suv4"
    preselect_threshold_suv: float = 4.0
    min_volume_ml: float = 3.0
    connectivity: int = 26
    physio_exclusion: bool = True
    fixed_threshold_suv: float = 4.0
    low_threshold_suv: float = 2.5
    pct_of_max: float = 0.41
    a50p_fraction: float = 0.5
    background_shell_mm: tuple[float, float] = (10.0, 20.0)
    percist_liver_factor: float = 1.5
    percist_sd_factor: float = 2.0
    peak_volume_ml: float = 1.0
    peak_center: str = "any_voxel_in_lesion"
    bsa_formula: str = "dubois"
    liver_range_suv: tuple[float, float] = (1.3, 3.0)
    write_mip: bool = True
    reference_regions: bool = True
    max_growth_mm: float = 20.0

    def __post_init__(self) -> None:
        if self.method not in SEGMENTATION_METHODS:
            raise ConfigError(
                f"unknown segmentation method {self.method!r}; expected one of {list(SEGMENTATION_METHODS)}",
                code="UNKNOWN_METHOD",
            )
        if self.connectivity not in (6, 18, 26):
            raise ConfigError(
                f"connectivity must be 6, 18 or 26; got {self.connectivity!r}", code="BAD_CONNECTIVITY"
            )
        for name in ("preselect_threshold_suv", "fixed_threshold_suv", "low_threshold_suv", "peak_volume_ml"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0 and value == value):
                raise ConfigError(f"{name} must be a positive number; got {value!r}", code="BAD_PARAMETER")
        if not (isinstance(self.min_volume_ml, (int, float)) and self.min_volume_ml >= 0):
            raise ConfigError(
                f"min_volume_ml must be a number >= 0 (mL); got {self.min_volume_ml!r}", code="BAD_PARAMETER"
            )
        for name in ("pct_of_max", "a50p_fraction"):
            value = getattr(self, name)
            if not (0 < value < 1):
                raise ConfigError(f"{name} must be in (0, 1); got {value!r}", code="BAD_PARAMETER")
        lo, hi = self.background_shell_mm
        if not (0 <= lo < hi):
            raise ConfigError(
                f"background_shell_mm must be (inner, outer) with 0 <= inner < outer; got {self.background_shell_mm!r}",
                code="BAD_PARAMETER",
            )
        if not (isinstance(self.max_growth_mm, (int, float)) and self.max_growth_mm > 0):
            raise ConfigError(
                f"max_growth_mm must be a positive number (mm); got {self.max_growth_mm!r}", code="BAD_PARAMETER"
            )
        if self.peak_center not in ("any_voxel_in_lesion", "max_voxel"):
            raise ConfigError(
                f"peak_center must be 'any_voxel_in_lesion' or 'max_voxel'; got {self.peak_center!r}",
                code="BAD_PARAMETER",
            )
        if self.bsa_formula not in ("dubois", "mosteller"):
            raise ConfigError(
                f"bsa_formula must be 'dubois' or 'mosteller'; got {self.bsa_formula!r}", code="BAD_PARAMETER"
            )
        object.__setattr__(self, "background_shell_mm", tuple(float(v) for v in self.background_shell_mm))
        object.__setattr__(self, "liver_range_suv", tuple(float(v) for v in self.liver_range_suv))


# ----------------------------------------------------------------------------- cohort statistics

#: Endpoints ``carpet cohort`` analyses (methods.md §7.1).
COHORT_ENDPOINTS = ("pfs", "os")


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    """Thresholds of the published risk scores (methods.md §3.1, §4).

    Every published cut-off is a named parameter here, never a literal in a score module.
    Units: mL for volumes, SUVbw (g/mL) for SUV, years for age.
    """

    vercellino_tmtv_ml: float = 80.0
    vercellino_min_extranodal_sites: int = 2  # primary 2020 abstract: ">= 2"; 2021 review: "> 2"
    dean_mtv_ml: float = 147.5
    voltin_mtv_ml: float = 11.0
    voltin_suv_max: float = 16.7
    impi_knot_ml: float = 307.9

    def __post_init__(self) -> None:
        for name in ("vercellino_tmtv_ml", "dean_mtv_ml", "voltin_mtv_ml", "voltin_suv_max", "impi_knot_ml"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"ScoreConfig.{name} must be a positive number; got {value!r}")
        if not (isinstance(self.vercellino_min_extranodal_sites, int) and self.vercellino_min_extranodal_sites >= 1):
            raise ConfigError(
                "ScoreConfig.vercellino_min_extranodal_sites must be an integer >= 1; "
                f"got {self.vercellino_min_extranodal_sites!r}"
            )


@dataclasses.dataclass(frozen=True)
class CohortConfig:
    """Settings of the cohort outcome analysis (``carpet cohort``; methods.md §7).

    Times are in months (1 month = 30.4375 days). ``predictors`` are biomarker or score
    columns where a higher value means higher risk; ``log2_predictors`` enter Cox models
    as ``log2(x + 1)`` (methods.md §7.3).
    """

    endpoint: str = "pfs"
    predictors: tuple[str, ...] = ("tmtv_ml", "tlg", "suv_max", "ipi_points", "impi_lp")
    reference_predictor: str = "ipi_points"
    log2_predictors: tuple[str, ...] = ("tmtv_ml", "tlg")
    cutoff_predictor: str = "tmtv_ml"
    seed: int = 0
    bootstrap: int = 1000
    permutations: int = 2000
    confidence_level: float = 0.95
    landmark_months: float = 12.0
    tdauc_times_months: tuple[float, ...] = (6.0, 12.0)
    uno_tau_months: float | None = None
    minprop: float = 0.1
    cv_folds: int = 5
    km_times_months: tuple[float, ...] = (0.0, 3.0, 6.0, 9.0, 12.0, 18.0, 24.0)
    simulated: bool = False
    scores: ScoreConfig = dataclasses.field(default_factory=ScoreConfig)

    def __post_init__(self) -> None:
        if self.endpoint not in COHORT_ENDPOINTS:
            raise ConfigError(f"CohortConfig.endpoint must be one of {COHORT_ENDPOINTS}; got {self.endpoint!r}")
        if not self.predictors:
            raise ConfigError("CohortConfig.predictors must name at least one column; got none")
        for name in ("bootstrap", "permutations"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 0):
                raise ConfigError(f"CohortConfig.{name} must be an integer >= 0; got {value!r}")
        if not (isinstance(self.cv_folds, int) and self.cv_folds >= 2):
            raise ConfigError(f"CohortConfig.cv_folds must be an integer >= 2; got {self.cv_folds!r}")
        if not 0.5 < self.confidence_level < 1:
            raise ConfigError(f"CohortConfig.confidence_level must be in (0.5, 1); got {self.confidence_level!r}")
        if not 0 < self.minprop < 0.5:
            raise ConfigError(f"CohortConfig.minprop must be in (0, 0.5); got {self.minprop!r}")
        if not self.landmark_months > 0:
            raise ConfigError(f"CohortConfig.landmark_months must be > 0; got {self.landmark_months!r}")
        if any(t <= 0 for t in self.tdauc_times_months):
            raise ConfigError(f"CohortConfig.tdauc_times_months must be > 0; got {self.tdauc_times_months!r}")
        if isinstance(self.scores, dict):  # from a TOML mapping
            object.__setattr__(self, "scores", from_mapping(ScoreConfig, self.scores, source="cohort.scores"))
        for name in ("predictors", "log2_predictors", "tdauc_times_months", "km_times_months"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


# ----------------------------------------------------------------------------- batch


@dataclasses.dataclass(frozen=True)
class BatchConfig:
    """Resources and policies of ``carpet batch`` (they never change results).

    Parameters
    ----------
    workers : int or None
        Worker processes of the local pool; ``None`` = the number of CPU cores.
    memory_budget_mb : float or None
        Memory (MB) the studies in flight may use together; ``None`` = 75 % of the memory
        available when the batch starts. At least one study is always in flight.
    memory_per_input_byte : float
        Estimated peak memory of analysing a study per byte of its input files (float32
        volume, SUV, masks and temporaries over 16-bit stored pixels: about 8).
    min_study_memory_mb : float
        Lower bound of a study's memory estimate (MB).
    in_flight_per_worker : int
        Studies submitted ahead per worker (bounds coordinator memory; 2 keeps workers busy).
    keep_patient_ids : bool
        Discovered studies keep the DICOM PatientID instead of a pseudonym.
    retry_codes : tuple of str
        Failure codes that are transient and retried automatically by the next run
        (a worker process that died, memory exhausted); other failures are final for
        unchanged inputs and parameters (``retry_failed`` retries them all).
    retry_failed : bool
        Retry every failed study on this run.
    scheduler_timeout_s : float
        How long to wait for a Dask scheduler to answer when connecting (s).
    """

    workers: int | None = None
    memory_budget_mb: float | None = None
    memory_per_input_byte: float = 8.0
    min_study_memory_mb: float = 200.0
    in_flight_per_worker: int = 2
    keep_patient_ids: bool = False
    retry_codes: tuple[str, ...] = ("WORKER_DIED", "OUT_OF_MEMORY")
    retry_failed: bool = False
    scheduler_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"batch.workers must be an integer >= 1, got {self.workers!r}", code="BAD_WORKERS")
        if self.memory_budget_mb is not None and not self.memory_budget_mb > 0:
            raise ConfigError(
                f"batch.memory_budget_mb must be > 0 MB, got {self.memory_budget_mb!r}", code="BAD_MEMORY_BUDGET"
            )
        if not self.memory_per_input_byte > 0 or not self.min_study_memory_mb >= 0:
            raise ConfigError(
                "batch.memory_per_input_byte must be > 0 and min_study_memory_mb >= 0, got "
                f"{self.memory_per_input_byte!r}, {self.min_study_memory_mb!r}",
                code="BAD_MEMORY_BUDGET",
            )
        if not isinstance(self.in_flight_per_worker, int) or self.in_flight_per_worker < 1:
            raise ConfigError(
                f"batch.in_flight_per_worker must be an integer >= 1, got {self.in_flight_per_worker!r}",
                code="BAD_WORKERS",
            )
        object.__setattr__(self, "retry_codes", tuple(self.retry_codes))

# ----------------------------------------------------------------------------- response


@dataclasses.dataclass(frozen=True)
class ReferenceConfig:
    """Reference regions (liver sphere, mediastinal blood-pool cylinder): size, search, QC.

    Sources: PERCIST (Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S) for the 3 cm liver
    sphere and the 1 cm x 2 cm descending-aorta cylinder; EANM guideline 2.0 (Boellaard R et
    al. EJNMMI 2015;42:328) for the liver SUVmean range 1.3-3.0; TotalSegmentator label ids
    (liver 5, aorta 52). The search thresholds are carpet's own (documented in
    ``carpet.measure.reference``).
    """

    liver_diameter_mm: float = 30.0
    mbp_diameter_mm: float = 10.0
    mbp_length_mm: float = 20.0
    liver_range_suv: tuple[float, float] = (1.3, 3.0)
    cv_max: float = 0.20
    body_suv_threshold: float = 0.10
    body_hu_threshold: float = -500.0
    lung_hu_threshold: float = -500.0
    bone_hu_threshold: float = 250.0
    liver_hu_range: tuple[float, float] = (-20.0, 150.0)
    blood_hu_range: tuple[float, float] = (-20.0, 120.0)
    soft_tissue_hu_sd_max: float = 60.0
    search_voxel_mm: float = 8.0  # liver search grid (block averages)
    mbp_search_voxel_mm: float = 4.0  # MBP search grid, in the slab above the liver
    mbp_search_height_mm: float = 300.0
    search_cv_max: float = 0.15
    search_cv_relax: float = 1.25
    liver_min_ratio_to_body: float = 1.2
    mbp_min_ratio_to_body: float = 1.5
    mbp_lung_distance_mm: float = 25.0
    mbp_min_left_of_midline_mm: float = 10.0  # descending aorta lies left of the spine
    mbp_max_left_of_midline_mm: float = 70.0  # ... and within a few cm of the midline
    mbp_lung_max_ratio: float = 0.4  # PET only: lung-like uptake (< 0.4 x the candidate) nearby
    organ_labels: tuple[tuple[str, int], ...] = (("liver", 5), ("aorta", 52))

    def __post_init__(self) -> None:
        for name in ("liver_diameter_mm", "mbp_diameter_mm", "mbp_length_mm", "search_voxel_mm"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"ReferenceConfig.{name} must be > 0 mm; got {getattr(self, name)!r}",
                    code="BAD_REFERENCE_CONFIG",
                )
        lo, hi = self.liver_range_suv
        if not 0 <= lo < hi:
            raise ConfigError(
                f"ReferenceConfig.liver_range_suv must be (low, high) with 0 <= low < high; got "
                f"{self.liver_range_suv!r}",
                code="BAD_REFERENCE_CONFIG",
            )
        if not 0 < self.cv_max:
            raise ConfigError(
                f"ReferenceConfig.cv_max must be > 0 (a fraction, 0.2 = 20 %); got {self.cv_max!r}",
                code="BAD_REFERENCE_CONFIG",
            )


@dataclasses.dataclass(frozen=True)
class ResponseConfig:
    """Timepoints, registration, lesion matching and response-category proposals.

    Every threshold has its source next to it; ``[U]`` marks values methods.md lists as
    unconfirmed, kept as parameters so that a study can set its own.
    """

    # --- registration (carpet.response.registration)
    registration_voxel_mm: float = 8.0  # both images block-averaged to about this voxel size first
    registration_levels: tuple[int, ...] = (2, 1)  # shrink factors of the pyramid (on the coarse grid)
    registration_iterations: int = 200
    registration_sampling: float = 0.10  # fraction of voxels sampled by the metric
    # --- matching (carpet.response.matching)
    match_distance_mm: float = 30.0  # gate: centroids further apart after registration never match
    overlap_min_fraction: float = 0.10  # overlap (of the smaller lesion) that links split/merged lesions
    # --- Deauville proxy (carpet.response.categories); methods.md §6.1
    deauville_reference_statistic: str = "suv_max"  # compare lesion SUVmax with the reference's SUVmax
    deauville_marked_multiplier: float = 2.0  # "markedly above liver": > 2 x liver [U] methods §6.1 (2-3x)
    deauville_background_fraction_of_mbp: float = 0.5  # DS1: <= 0.5 x MBP [carpet convention]
    # --- qPET (Hasenclever D et al. EJNMMI 2014;41:1301) [U: cut-offs to verify]
    qpet_ds4_cutoff: float = 0.95
    qpet_ds5_cutoff: float = 2.0
    # --- Lugano 2014 metabolic proxy: change of the hottest uptake; PERCIST 30 % (Wahl 2009)
    lugano_decrease_pct: float = 30.0
    lugano_increase_pct: float = 30.0
    # --- LYRIC (Cheson BD et al. Blood 2016;128:2489) [U: sub-definitions recalled]
    lyric_window_days: float = 84.0  # 12 weeks after infusion
    lyric_ir1_volume_increase_pct: float = 50.0  # metabolic-volume proxy of ">= 50 % SPD increase"
    lyric_ir3_volume_tolerance_pct: float = 20.0  # "without increase in size": volume change below this
    # --- Delta SUVmax at M1 (Cohen et al.; methods §6.5)
    dsuvmax_reduction_cutoff_pct: float = 66.0

    def __post_init__(self) -> None:
        positive = (
            "registration_voxel_mm",
            "registration_iterations",
            "match_distance_mm",
            "deauville_marked_multiplier",
            "qpet_ds4_cutoff",
            "qpet_ds5_cutoff",
            "lugano_decrease_pct",
            "lugano_increase_pct",
            "lyric_window_days",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"ResponseConfig.{name} must be > 0; got {getattr(self, name)!r}",
                    code="BAD_RESPONSE_CONFIG",
                )
        if self.deauville_reference_statistic not in ("suv_max", "suv_mean"):
            raise ConfigError(
                "ResponseConfig.deauville_reference_statistic must be 'suv_max' or 'suv_mean'; got "
                f"{self.deauville_reference_statistic!r}",
                code="BAD_RESPONSE_CONFIG",
            )
        if not self.qpet_ds4_cutoff < self.qpet_ds5_cutoff:
            raise ConfigError(
                f"ResponseConfig: qpet_ds4_cutoff ({self.qpet_ds4_cutoff}) must be below "
                f"qpet_ds5_cutoff ({self.qpet_ds5_cutoff})",
                code="BAD_RESPONSE_CONFIG",
            )
        if not 0 < self.overlap_min_fraction <= 1:
            raise ConfigError(
                f"ResponseConfig.overlap_min_fraction must be in (0, 1]; got {self.overlap_min_fraction!r}",
                code="BAD_RESPONSE_CONFIG",
            )
        if not self.registration_levels or any(int(f) < 1 for f in self.registration_levels):
            raise ConfigError(
                f"ResponseConfig.registration_levels must be shrink factors >= 1; got "
                f"{self.registration_levels!r}",
                code="BAD_RESPONSE_CONFIG",
            )
