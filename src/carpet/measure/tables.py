"""Per-lesion records and patient-level metrics (``lesions.csv`` rows and ``patient.json`` numbers).

Patient metrics derive only from the per-lesion records (sums, maxima,
centroids, per-lesion convex-hull vertices), so re-measuring one edited lesion
(:func:`measure_lesions` with ``lesion_ids=[id]``) and recombining is cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carpet.core.volume import Volume
from carpet.errors import InputError, SuvError
from carpet.measure.columns import LESION_COLUMNS
from carpet.measure.distance import dbulk_mm, dmax_mm, dmax_voxel_mm, hull_points_mm, sdmax_per_m
from carpet.measure.uptake import suv_peak_in_box
from carpet.measure.volume import tlg, tmtv_ml

__all__ = ["empty_lesion_table", "lesion_boxes", "measure_lesions", "patient_metrics"]

#: Columns of the lesion table that are numeric records kept in memory but not written to CSV.
HULL_COLUMN = "hull_points_mm"


def _check_inputs(suv: Volume, labels: Volume) -> None:
    if not suv.unit.is_suv:
        raise SuvError(
            f"measurement needs an SUV volume; got unit {suv.unit.value} "
            "(convert with carpet.suv or pass --units suv for a NIfTI already in SUV)",
            code="NOT_SUV",
        )
    if suv.shape != labels.shape or not suv.same_grid_as(labels):
        raise InputError(
            f"label map grid {labels.shape} does not match the SUV grid {suv.shape} "
            "(resample the mask onto the PET grid with nearest neighbour)",
            code="GRID_MISMATCH",
        )


def lesion_boxes(labels: np.ndarray) -> dict[int, tuple[slice, slice, slice]]:
    """Bounding box (slices) of every non-zero label id present."""
    from scipy import ndimage

    boxes = {}
    for i, sl in enumerate(ndimage.find_objects(labels)):
        if sl is not None:
            boxes[i + 1] = sl
    return boxes


def _box_of(lab: np.ndarray, lid: int) -> tuple[slice, slice, slice]:
    """Bounding box of one label id (one comparison pass plus three projections)."""
    m = lab == lid
    ks = np.flatnonzero(m.any(axis=(1, 2)))
    if ks.size == 0:
        raise InputError(f"lesion_id {lid} is not in the label map", code="UNKNOWN_LESION_ID")
    sub = m[ks[0] : ks[-1] + 1]
    js = np.flatnonzero(sub.any(axis=(0, 2)))
    is_ = np.flatnonzero(sub.any(axis=(0, 1)))
    return (
        slice(int(ks[0]), int(ks[-1]) + 1),
        slice(int(js[0]), int(js[-1]) + 1),
        slice(int(is_[0]), int(is_[-1]) + 1),
    )


def empty_lesion_table() -> pd.DataFrame:
    """A lesion table with the registry columns and no rows."""
    cols = {
        name: pd.Series(
            dtype="int64" if c.dtype == "int" else ("object" if c.dtype == "str" else "float64")
        )
        for name, c in LESION_COLUMNS.items()
    }
    df = pd.DataFrame(cols)
    df[HULL_COLUMN] = pd.Series(dtype="object")
    return df


def measure_lesions(
    suv: Volume,
    labels: Volume,
    *,
    lesion_ids: list[int] | None = None,
    boxes: dict[int, tuple[slice, slice, slice]] | None = None,
    peak_volume_ml: float = 1.0,
    peak_center: str = "any_voxel_in_lesion",
) -> pd.DataFrame:
    """Measure every lesion of a label map (one row per lesion id).

    Parameters
    ----------
    suv : Volume
        SUV volume (unit SUVbw, SUVlbm, ...), g/mL.
    labels : Volume
        Integer label map on the same grid; 0 = background, each other value a lesion.
    lesion_ids : list of int, optional
        Only measure these ids (re-measuring an edited lesion); default all.
    boxes : dict, optional
        Precomputed boxes (id -> slices) enclosing each lesion (need not be tight), to
        skip a scan of the whole label map.
    peak_volume_ml : float
        SUVpeak sphere volume, mL (1.0).
    peak_center : {"any_voxel_in_lesion", "max_voxel"}
        Allowed SUVpeak sphere centres.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`carpet.measure.columns.LESION_COLUMNS` (lesion_id, volume_ml,
        suv_max, suv_peak, suv_mean, tlg, centroid_x/y/z_mm in LPS, ...) plus
        ``hull_points_mm`` (convex-hull vertices of the voxel centres, LPS mm, used
        by the voxel Dmax). Sorted by lesion_id. Zero rows when there is no lesion.

    Notes
    -----
    ``volume_ml = n_voxels × v``; ``tlg = volume_ml × suv_mean``; centroids are
    the mean of voxel-centre positions mapped through the affine (exact for
    any orientation and anisotropic voxels).

    Examples
    --------
    >>> import numpy as np
    >>> from carpet.core.volume import Volume
    >>> from carpet.units import Unit
    >>> a = np.zeros((10, 10, 10), np.float32); a[2:4, 2:4, 2:4] = 5.0
    >>> lab = (a > 0).astype(np.int32)
    >>> aff = np.diag([2.0, 2.0, 2.0, 1.0])
    >>> t = measure_lesions(Volume(a, aff, unit=Unit.SUV_BW), Volume(lab, aff, unit=Unit.LABEL))
    >>> t[["lesion_id", "volume_ml", "suv_max", "tlg"]].round(6).to_dict("records")
    [{'lesion_id': 1, 'volume_ml': 0.064, 'suv_max': 5.0, 'tlg': 0.32}]
    """
    _check_inputs(suv, labels)
    lab = labels.array
    if boxes is None:
        boxes = lesion_boxes(lab) if lesion_ids is None else {}
    ids = sorted(boxes) if lesion_ids is None else sorted(int(i) for i in lesion_ids)
    v_ml = suv.voxel_volume_ml
    spacing = suv.spacing_mm
    rows = []
    arr = suv.array
    for lid in ids:
        box = boxes.get(lid)
        if box is None:
            box = _box_of(lab, lid)
        mask = lab[box] == lid
        vals = arr[box][mask].astype(np.float64)
        if vals.size == 0:
            continue
        idx = np.argwhere(mask) + np.array([b.start for b in box])
        n = int(vals.size)
        mean = float(vals.mean())
        imax = int(np.argmax(vals))
        peak, _ = suv_peak_in_box(
            arr, box, mask, spacing, peak_volume_ml=peak_volume_ml, center=peak_center
        )
        centroid = suv.index_to_world(idx.mean(axis=0))[0]
        vmax = suv.index_to_world(idx[imax])[0]
        # Hull of boundary voxels only (interior voxels can never be hull vertices).
        if n > 64:
            interior = mask.copy()
            from scipy import ndimage

            interior = ndimage.binary_erosion(mask, border_value=0)
            bidx = np.argwhere(mask & ~interior) + np.array([b.start for b in box])
        else:
            bidx = idx
        hull = hull_points_mm(suv.index_to_world(bidx))
        vol = n * v_ml
        rows.append(
            {
                "lesion_id": int(lid),
                "volume_ml": vol,
                "suv_max": float(vals[imax]),
                "suv_peak": peak,
                "suv_mean": mean,
                "tlg": vol * mean,
                "centroid_x_mm": float(centroid[0]),
                "centroid_y_mm": float(centroid[1]),
                "centroid_z_mm": float(centroid[2]),
                "n_voxels": n,
                "max_x_mm": float(vmax[0]),
                "max_y_mm": float(vmax[1]),
                "max_z_mm": float(vmax[2]),
                HULL_COLUMN: hull,
            }
        )
    if not rows:
        return empty_lesion_table()
    df = pd.DataFrame(rows)
    for name in LESION_COLUMNS:
        if name not in df.columns:
            df[name] = np.nan if LESION_COLUMNS[name].dtype == "float" else None
    return df[[*LESION_COLUMNS, HULL_COLUMN]].sort_values("lesion_id").reset_index(drop=True)


def patient_metrics(
    lesion_table: pd.DataFrame,
    *,
    bsa_m2: dict[str, float | None] | None = None,
    bsa_formula: str = "dubois",
) -> dict:
    """Patient-level biomarkers from the per-lesion records.

    Parameters
    ----------
    lesion_table : DataFrame
        Output of :func:`measure_lesions` (possibly edited: rows removed or replaced).
    bsa_m2 : dict, optional
        Body-surface area (m²) by formula name (``{"dubois": 1.9, "mosteller": 1.92}``);
        ``None`` values or a missing dict make SDmax null.
    bsa_formula : {"dubois", "mosteller"}
        Which BSA gives ``sdmax_per_m``.

    Returns
    -------
    dict
        ``tmtv_ml, tlg, suv_max, suv_peak, suv_mean, lesion_count, dmax_mm,
        dmax_voxel_mm, dbulk_mm, sdmax_per_m, sdmax_dubois_per_m,
        sdmax_mosteller_per_m, bsa_formula``. A table without rows gives zeros
        and ``lesion_count`` 0 (SDmax 0 when the BSA is known).

    Notes
    -----
    TMTV = Σ volume_ml (lesions are disjoint, so the union is counted once);
    TLG = Σ tlg; patient SUVmean = TLG / TMTV; Dmax = max centroid distance;
    Dmax-voxel from the union of per-lesion hull vertices; Dbulk from the largest
    lesion's centroid; SDmax = Dmax (m) / BSA (m²).

    References
    ----------
    Cottereau AS et al., Clin Cancer Res 2020 (Dmax, SDmax); Boellaard R et al.,
    J Nucl Med 2024 (TMTV benchmark).
    """
    t = lesion_table
    n = len(t)
    vols = t["volume_ml"].to_numpy(dtype=np.float64) if n else np.zeros(0)
    cents = (
        t[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy(dtype=np.float64)
        if n
        else np.zeros((0, 3))
    )
    total_v = tmtv_ml(vols)
    total_tlg = tlg(vols, t["suv_mean"].to_numpy(dtype=np.float64)) if n else 0.0
    dmax = dmax_mm(cents)
    if n and HULL_COLUMN in t.columns:
        hulls = list(t[HULL_COLUMN])
        dvox = dmax_voxel_mm(hulls)
    else:
        dvox = 0.0
    bsa = bsa_m2 or {}
    out = {
        "tmtv_ml": total_v,
        "tlg": total_tlg,
        "suv_max": float(t["suv_max"].max()) if n else 0.0,
        "suv_peak": float(t["suv_peak"].max()) if n else 0.0,
        "suv_mean": total_tlg / total_v if total_v > 0 else 0.0,
        "lesion_count": int(n),
        "dmax_mm": dmax,
        "dmax_voxel_mm": dvox,
        "dbulk_mm": dbulk_mm(cents, vols),
        "sdmax_per_m": sdmax_per_m(dmax, bsa.get(bsa_formula)),
        "sdmax_dubois_per_m": sdmax_per_m(dmax, bsa.get("dubois")),
        "sdmax_mosteller_per_m": sdmax_per_m(dmax, bsa.get("mosteller")),
        "bsa_formula": bsa_formula,
        "bsa_m2": bsa.get(bsa_formula),
    }
    return out
