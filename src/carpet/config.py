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

__all__ = ["AnalysisConfig", "PHYSIO_ORGANS", "SEGMENTATION_METHODS", "from_mapping", "to_dict"]

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

# ----------------------------------------------------------------------------- batch

# ----------------------------------------------------------------------------- response
