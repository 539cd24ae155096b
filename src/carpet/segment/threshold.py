"""Threshold rules of the segmentation methods (methods.md §2.1), as pure functions.

Each returns the SUV threshold (g/mL) a lesion is segmented at.
"""

from __future__ import annotations

from carpet.errors import SegmentationError

__all__ = ["a50p_threshold", "pct_max_threshold", "percist_threshold"]


def pct_max_threshold(suv_max: float, fraction: float = 0.41) -> float:
    """``fraction`` × the lesion's own SUVmax (41 %max: Cottereau REMARC).

    Examples
    --------
    >>> round(pct_max_threshold(10.0), 6)
    4.1
    """
    return float(fraction) * float(suv_max)


def a50p_threshold(suv_peak: float, background_suv: float, fraction: float = 0.5) -> float:
    """Background-adapted threshold at ``fraction`` of SUVpeak (A50%P, Burggraaff 2020).

    ``threshold = background + fraction × (SUVpeak − background)``.

    Examples
    --------
    >>> a50p_threshold(10.0, 1.0)
    5.5
    """
    return float(background_suv) + float(fraction) * (float(suv_peak) - float(background_suv))


def percist_threshold(
    liver_suv_mean: float, liver_suv_sd: float, *, liver_factor: float = 1.5, sd_factor: float = 2.0
) -> float:
    """PERCIST threshold: 1.5 × liver SUVmean + 2 × liver SD (3 cm right-lobe sphere).

    Examples
    --------
    >>> percist_threshold(2.0, 0.25)
    3.5
    """
    if not (liver_suv_mean > 0 and liver_suv_sd >= 0):
        raise SegmentationError(
            f"PERCIST needs a liver reference with SUVmean > 0 and SD >= 0; got mean {liver_suv_mean!r}, "
            f"SD {liver_suv_sd!r} (check the liver VOI or give --liver-voi)",
            code="BAD_LIVER_REFERENCE",
        )
    return float(liver_factor) * float(liver_suv_mean) + float(sd_factor) * float(liver_suv_sd)
