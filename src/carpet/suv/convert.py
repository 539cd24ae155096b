"""Apply SUV factors to a volume: ``Volume[BQML/CNTS/GML/CM2ML]`` → ``Volume[SUV*]``."""

from __future__ import annotations

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import ConfigError, SuvError
from carpet.suv.factors import NORMALIZATIONS, SuvFactors
from carpet.units import Unit

__all__ = ["apply_suv"]

_OUT_UNIT = {"bw": Unit.SUV_BW, "lbm": Unit.SUV_LBM, "bsa": Unit.SUV_BSA, "ibw": Unit.SUV_IBW}


def apply_suv(
    volume: Volume,
    factors: SuvFactors,
    *,
    normalization: str = "bw",
    inplace: bool = False,
) -> Volume:
    """Multiply a volume of rescaled stored values by its SUV factor(s).

    Parameters
    ----------
    volume : Volume
        Rescaled stored values (``P·RescaleSlope``) of the series, shape (S, R, C),
        in the series' Units (``volume.unit`` must be that Unit or ``UNKNOWN``).
        When the factors differ per instance (``factors.slice_bw_factors``),
        ``volume.meta["sop_instance_uids"]`` must list the SOPInstanceUID of each
        slice k.
    factors : SuvFactors
        From :func:`carpet.suv.compute_suv_factors`.
    normalization : {"bw", "lbm", "bsa", "ibw"}
        SUVbw (g/mL), SUL (g/mL), SUVbsa (cm²/mL) or SUVibw (g/mL).
    inplace : bool
        If true and the array is a writable floating-point array, multiply it in
        place (no new full-size array; the input volume's array is changed).
        Otherwise one float32 output array is allocated (no other full-size copy).

    Returns
    -------
    Volume
        Same grid, ``unit`` = the SUV unit, ``meta["suv"]`` = the factors' provenance.

    Raises
    ------
    SuvError
        ``NORMALIZATION_UNAVAILABLE`` when the asked factor is not available;
        ``UNIT_MISMATCH`` when the volume's unit is not the factors' Units;
        ``MISSING_SLICE_UIDS`` when per-instance factors cannot be matched to slices.

    Notes
    -----
    ``SUV[k] = stored_rescaled[k] · f_k`` with ``f_k`` the factor of slice k's
    instance, or the series factor when uniform.

    References
    ----------
    IBSI-SUV manual (Vácha et al. 2026): the per-slice rescale slope and the
    per-frame decay factors of DecayCorrection NONE.

    Examples
    --------
    >>> import numpy as np
    >>> from dataclasses import replace
    >>> from carpet.suv.factors import SuvFactors
    >>> f = SuvFactors(bw_factor=2e-4, lbm_factor=None, bsa_factor=None, ibw_factor=None,
    ...     slice_bw_factors=None, units="BQML", method="BQML", reference_time_source="series_datetime",
    ...     reference_datetime=None, injection_time_source=None, injection_datetime=None,
    ...     midnight_adjusted=False, decay_interval_s=None, decay_correction="START",
    ...     half_life_s_used=None, half_life_source=None, dose_bq_used=None, dose_at_reference_bq=None,
    ...     weight_kg_used=70.0, height_m_used=None, sex_used=None, lbm_formula="janma",
    ...     bsa_formula="dubois", lbm_kg=None, bsa_m2=None, ibw_kg=None)
    >>> v = Volume(np.full((2, 2, 2), 5000.0), np.eye(4), unit="BQML")
    >>> out = apply_suv(v, f)
    >>> out.unit.value, float(out.array[0, 0, 0])
    ('SUVbw', 1.0)
    """
    if normalization not in NORMALIZATIONS:
        raise ConfigError(
            f"normalization must be one of {NORMALIZATIONS}; got {normalization!r}",
            code="INVALID_PARAMETER",
        )
    f = factors.factor(normalization)
    if volume.unit not in (Unit(factors.units), Unit.UNKNOWN):
        raise SuvError(
            f"volume unit {volume.unit.value} does not match the SUV factors' Units "
            f"{factors.units} "
            f"(series {factors.series_instance_uid}); expected the rescaled stored values of that "
            "series",
            code="UNIT_MISMATCH",
        )
    per_slice = factors.slice_factors(normalization)
    arr = volume.array
    n = arr.shape[0]
    if per_slice is not None:
        uids = volume.meta.get("sop_instance_uids")
        if uids is None or len(uids) != n or any(u not in per_slice for u in uids):
            raise SuvError(
                f"the SUV factors of series {factors.series_instance_uid} differ per instance "
                f"(DecayCorrection {factors.decay_correction}, {factors.method}) but volume.meta"
                "['sop_instance_uids'] does not name every slice's SOPInstanceUID",
                code="MISSING_SLICE_UIDS",
            )
        fk = np.array([per_slice[u] for u in uids], dtype=np.float64)
    else:
        fk = None
    if inplace and arr.flags.writeable and np.issubdtype(arr.dtype, np.floating):
        out = arr
    else:
        out = np.empty(arr.shape, dtype=np.float32)
    if fk is None:
        np.multiply(arr, f, out=out, casting="unsafe")
    else:
        for k in range(n):
            np.multiply(arr[k], fk[k], out=out[k], casting="unsafe")
    meta = dict(volume.meta)
    meta["suv"] = {"normalization": normalization, "factor": f, **factors.to_dict()}
    return Volume(
        out,
        volume.affine,
        unit=_OUT_UNIT[normalization],
        frame_of_reference_uid=volume.frame_of_reference_uid,
        meta=meta,
    )
