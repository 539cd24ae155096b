"""Lesion-by-lesion matching between a baseline and a follow-up.

After registration, each follow-up lesion's centroid is mapped into baseline space and
its label map is resampled (nearest neighbour) onto the baseline grid. Then:

1. **split / merged** from overlaps: a baseline lesion overlapping two or more
   follow-up lesions (each overlap ≥ ``overlap_min_fraction`` of the smaller lesion)
   is *split*; a follow-up lesion overlapping two or more baseline lesions is
   *merged* (one row per pair).
2. The remaining lesions are paired by optimal assignment
   (:func:`scipy.optimize.linear_sum_assignment`) of the centroid distances after
   registration; pairs further apart than ``distance_gate_mm`` are not matched.
3. Unpaired baseline lesions are *disappeared*, unpaired follow-up lesions *new*.

For every baseline site the follow-up **residual uptake** is measured: the follow-up
SUVmax inside the baseline lesion region mapped into the follow-up (voxel centres of
the baseline lesion, transformed, nearest follow-up voxel), because Deauville scores
the sites of initial disease.

References
----------
Kuhn HW. The Hungarian method for the assignment problem. Naval Res Logist Q 1955;2:83-97.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from carpet.config import ResponseConfig
from carpet.core.volume import Volume
from carpet.errors import InputError
from carpet.response.registration import Registration

__all__ = ["MATCH_COLUMNS", "MATCH_STATUSES", "LesionMatching", "match_lesions", "residual_uptake"]

_DEFAULTS = ResponseConfig()

#: Values of the ``status`` column.
MATCH_STATUSES = ("matched", "new", "disappeared", "split", "merged")

#: Columns of ``lesion_matches.csv`` (the first eight are the issue's contract).
MATCH_COLUMNS = (
    "baseline_id",
    "followup_id",
    "status",
    "distance_mm",
    "suv_max_baseline",
    "suv_max_followup",
    "volume_ml_baseline",
    "volume_ml_followup",
    "suv_peak_baseline",
    "suv_peak_followup",
    "delta_suv_max_pct",
    "delta_suv_peak_pct",
    "delta_volume_ml",
    "delta_volume_pct",
    "residual_suv_max_followup",
    "match_number",
)

_NEEDED = (
    "lesion_id",
    "suv_max",
    "suv_peak",
    "volume_ml",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
)


@dataclass(frozen=True, eq=False)
class LesionMatching:
    """Result of :func:`match_lesions`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per pair or unpaired lesion, columns :data:`MATCH_COLUMNS`; ids are the
        ``lesion_id`` values of the two lesion tables (NA where there is none).
    residual : dict
        Baseline lesion id → follow-up SUVmax inside its mapped region.
    distance_gate_mm : float
    """

    table: pd.DataFrame
    residual: dict
    distance_gate_mm: float

    def count(self, status: str) -> int:
        """Number of rows with ``status``."""
        return int((self.table["status"] == status).sum())

    @property
    def new_followup_ids(self) -> list[int]:
        """Follow-up lesion ids with status ``new``."""
        t = self.table
        return [int(v) for v in t.loc[t["status"] == "new", "followup_id"]]


def _check_table(df: pd.DataFrame, which: str) -> pd.DataFrame:
    missing = [c for c in _NEEDED if c not in df.columns]
    if missing:
        raise InputError(
            f"{which} lesion table lacks column(s) {missing}; expected the lesions.csv columns of "
            "carpet analyze.",
            code="BAD_LESION_TABLE",
        )
    return df.reset_index(drop=True)


def _pct(new: float, old: float) -> float:
    return (new - old) / old * 100.0 if old and np.isfinite(old) and old != 0 else float("nan")


def residual_uptake(
    baseline_labels: Volume, followup_suv: Volume, registration: Registration
) -> dict[int, float]:
    """Follow-up SUVmax inside each baseline lesion's region mapped into the follow-up.

    Parameters
    ----------
    baseline_labels : Volume
        Baseline lesion ids (0 = background).
    followup_suv : Volume
        Follow-up SUV.
    registration : Registration
        Follow-up → baseline transform.

    Returns
    -------
    dict
        lesion id → SUVmax (g/mL) over the follow-up voxels nearest to the mapped baseline
        voxel centres; NaN where the region falls outside the follow-up field of view.

    Notes
    -----
    ``residual(b) = max{ SUV_fu(round(A_fu⁻¹ · T⁻¹ · A_bl · v)) : v ∈ V_b }``
    with ``T`` the follow-up → baseline matrix and ``A`` the grid affines.

    References
    ----------
    Meignan M et al. Leuk Lymphoma 2009;50:1257 (Deauville scores the sites of initial
    disease); methods.md §6.1.
    """
    lab = np.asarray(baseline_labels.array)
    idx = np.argwhere(lab > 0)
    out: dict[int, float] = {}
    if len(idx) == 0:
        return out
    ids = lab[idx[:, 0], idx[:, 1], idx[:, 2]]
    pts = registration.baseline_to_followup(baseline_labels.index_to_world(idx))
    fidx = np.rint(followup_suv.world_to_index(pts)).astype(np.int64)
    inside = np.all((fidx >= 0) & (fidx < np.array(followup_suv.shape)), axis=1)
    vals = np.full(len(idx), np.nan)
    f = fidx[inside]
    vals[inside] = np.asarray(followup_suv.array)[f[:, 0], f[:, 1], f[:, 2]]
    df = pd.DataFrame({"id": ids, "v": vals, "in": inside})
    for lid, g in df.groupby("id"):
        out[int(lid)] = float(g["v"].max()) if g["in"].any() else float("nan")
    return out


def _overlaps(
    baseline_labels: Volume, followup_labels: Volume, registration: Registration
) -> tuple[dict[tuple[int, int], int], dict[int, int], dict[int, int]]:
    """Voxel overlaps (on the baseline grid) between baseline and mapped follow-up lesions."""
    bl = np.asarray(baseline_labels.array)
    idx = np.argwhere(bl > 0)
    bsize = {
        int(k): int(v) for k, v in zip(*np.unique(bl[bl > 0], return_counts=True), strict=False)
    }
    fl = np.asarray(followup_labels.array)
    fsize_f = {
        int(k): int(v) for k, v in zip(*np.unique(fl[fl > 0], return_counts=True), strict=False)
    }
    pairs: dict[tuple[int, int], int] = {}
    if len(idx) == 0 or not fsize_f:
        return pairs, bsize, {}
    pts = registration.baseline_to_followup(baseline_labels.index_to_world(idx))
    fidx = np.rint(followup_labels.world_to_index(pts)).astype(np.int64)
    inside = np.all((fidx >= 0) & (fidx < np.array(followup_labels.shape)), axis=1)
    fv = np.zeros(len(idx), dtype=np.int64)
    f = fidx[inside]
    fv[inside] = fl[f[:, 0], f[:, 1], f[:, 2]]
    bv = bl[idx[:, 0], idx[:, 1], idx[:, 2]]
    keep = fv > 0
    if keep.any():
        pv, counts = np.unique(np.stack([bv[keep], fv[keep]], axis=1), axis=0, return_counts=True)
        pairs = {(int(a), int(b)): int(c) for (a, b), c in zip(pv, counts, strict=False)}
    # follow-up sizes expressed in baseline voxels (volume ratio of the grids)
    ratio = followup_labels.voxel_volume_ml / baseline_labels.voxel_volume_ml
    fsize = {k: int(round(v * ratio)) for k, v in fsize_f.items()}
    return pairs, bsize, fsize


def match_lesions(
    baseline_lesions: pd.DataFrame,
    followup_lesions: pd.DataFrame,
    *,
    baseline_labels: Volume,
    followup_labels: Volume,
    followup_suv: Volume,
    registration: Registration,
    distance_gate_mm: float = _DEFAULTS.match_distance_mm,
    overlap_min_fraction: float = _DEFAULTS.overlap_min_fraction,
) -> LesionMatching:
    """Match follow-up lesions to baseline lesions.

    Parameters
    ----------
    baseline_lesions, followup_lesions : pandas.DataFrame
        ``lesions.csv`` tables (``lesion_id``, ``suv_max``, ``suv_peak``, ``volume_ml``,
        ``centroid_{x,y,z}_mm`` in each study's LPS mm).
    baseline_labels, followup_labels : Volume
        Lesion-id label maps of the two studies.
    followup_suv : Volume
        Follow-up SUV (for residual uptake).
    registration : Registration
        Follow-up → baseline rigid transform.
    distance_gate_mm : float
        Centroids further apart than this after registration are never matched, mm
        (default 30 mm: a lymph-node station's size; carpet's choice, a parameter).
    overlap_min_fraction : float
        Overlap, as a fraction of the smaller lesion, that links lesions for
        split/merged.

    Returns
    -------
    LesionMatching

    Notes
    -----
    ``distance_mm = ‖c_b − T·c_f‖``; ``delta_suv_max_pct = (SUVmax_f − SUVmax_b) / SUVmax_b × 100``
    (likewise SUVpeak and volume); ``delta_volume_ml = V_f − V_b``.

    References
    ----------
    Kuhn HW. Naval Res Logist Q 1955;2:83-97 (optimal assignment). Cheson BD et al.
    J Clin Oncol 2014;32:3059 (lesion-level response, new lesions).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from carpet.core import Volume
    >>> from carpet.response.registration import identity_registration
    >>> lab = np.zeros((5, 5, 5), np.int32); lab[1, 1, 1] = 1
    >>> vol = Volume(lab, np.diag([4.0, 4.0, 4.0, 1.0]))
    >>> t = pd.DataFrame({"lesion_id": [1], "suv_max": [8.0], "suv_peak": [6.0], "volume_ml": [0.064],
    ...                   "centroid_x_mm": [4.0], "centroid_y_mm": [4.0], "centroid_z_mm": [4.0]})
    >>> m = match_lesions(t, t, baseline_labels=vol, followup_labels=vol, followup_suv=vol.with_array(lab * 8.0),
    ...                   registration=identity_registration())
    >>> m.table[["baseline_id", "followup_id", "status", "distance_mm"]].to_dict("records")
    [{'baseline_id': 1, 'followup_id': 1, 'status': 'matched', 'distance_mm': 0.0}]
    """
    if not distance_gate_mm > 0:
        raise InputError(
            f"distance_gate_mm must be > 0 mm; got {distance_gate_mm!r}", code="BAD_GATE"
        )
    bt = _check_table(baseline_lesions, "baseline")
    ft = _check_table(followup_lesions, "follow-up")
    bpos = bt[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy(float)
    fpos = (
        registration.followup_to_baseline(
            ft[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy(float)
        )
        if len(ft)
        else np.zeros((0, 3))
    )
    bids = [int(v) for v in bt["lesion_id"]]
    fids = [int(v) for v in ft["lesion_id"]]
    brow = {lid: i for i, lid in enumerate(bids)}
    frow = {lid: i for i, lid in enumerate(fids)}
    residual = residual_uptake(baseline_labels, followup_suv, registration)

    pairs, bsize, fsize = _overlaps(baseline_labels, followup_labels, registration)
    links = [
        (b, f)
        for (b, f), n in pairs.items()
        if b in brow
        and f in frow
        and n >= overlap_min_fraction * max(1, min(bsize.get(b, 1), fsize.get(f, 1)))
    ]
    b_links: dict[int, list[int]] = {}
    f_links: dict[int, list[int]] = {}
    for b, f in links:
        b_links.setdefault(b, []).append(f)
        f_links.setdefault(f, []).append(b)
    rows: list[dict] = []
    used_b: set[int] = set()
    used_f: set[int] = set()

    def row(b: int | None, f: int | None, status: str) -> dict:
        rb = bt.iloc[brow[b]] if b is not None else None
        rf = ft.iloc[frow[f]] if f is not None else None
        d = (
            float(np.linalg.norm(bpos[brow[b]] - fpos[frow[f]]))
            if (b is not None and f is not None)
            else float("nan")
        )
        out = {
            "baseline_id": b,
            "followup_id": f,
            "status": status,
            "distance_mm": d,
            "suv_max_baseline": float(rb["suv_max"]) if rb is not None else float("nan"),
            "suv_max_followup": float(rf["suv_max"]) if rf is not None else float("nan"),
            "volume_ml_baseline": float(rb["volume_ml"]) if rb is not None else float("nan"),
            "volume_ml_followup": float(rf["volume_ml"]) if rf is not None else float("nan"),
            "suv_peak_baseline": float(rb["suv_peak"]) if rb is not None else float("nan"),
            "suv_peak_followup": float(rf["suv_peak"]) if rf is not None else float("nan"),
            "residual_suv_max_followup": residual.get(b, float("nan"))
            if b is not None
            else float("nan"),
        }
        out["delta_suv_max_pct"] = _pct(out["suv_max_followup"], out["suv_max_baseline"])
        out["delta_suv_peak_pct"] = _pct(out["suv_peak_followup"], out["suv_peak_baseline"])
        out["delta_volume_ml"] = out["volume_ml_followup"] - out["volume_ml_baseline"]
        out["delta_volume_pct"] = _pct(out["volume_ml_followup"], out["volume_ml_baseline"])
        return out

    for b, fs in sorted(b_links.items()):
        if len(fs) >= 2:
            for f in sorted(fs):
                rows.append(row(b, f, "split"))
                used_f.add(f)
            used_b.add(b)
    for f, bs in sorted(f_links.items()):
        if len(bs) >= 2 and f not in used_f:
            for b in sorted(bs):
                if b not in used_b:
                    rows.append(row(b, f, "merged"))
                    used_b.add(b)
            used_f.add(f)
    rb_ids = [b for b in bids if b not in used_b]
    rf_ids = [f for f in fids if f not in used_f]
    if rb_ids and rf_ids:
        cost = np.linalg.norm(
            bpos[[brow[b] for b in rb_ids]][:, None, :]
            - fpos[[frow[f] for f in rf_ids]][None, :, :],
            axis=2,
        )
        big = 1e9
        gated = np.where(cost <= distance_gate_mm, cost, big)
        ri, ci = linear_sum_assignment(gated)
        for i, j in zip(ri, ci, strict=False):
            if gated[i, j] < big:
                rows.append(row(rb_ids[i], rf_ids[j], "matched"))
                used_b.add(rb_ids[i])
                used_f.add(rf_ids[j])
    for b in bids:
        if b not in used_b:
            rows.append(row(b, None, "disappeared"))
    for f in fids:
        if f not in used_f:
            rows.append(row(None, f, "new"))
    table = pd.DataFrame(rows, columns=[c for c in MATCH_COLUMNS if c != "match_number"])
    order = {"matched": 0, "split": 1, "merged": 2, "disappeared": 3, "new": 4}
    table["_o"] = table["status"].map(order)
    table["_b"] = pd.to_numeric(table["baseline_id"], errors="coerce").fillna(1e9)
    table["_f"] = pd.to_numeric(table["followup_id"], errors="coerce").fillna(1e9)
    table = table.sort_values(["_o", "_b", "_f"], kind="stable").drop(columns=["_o", "_b", "_f"])
    table = table.reset_index(drop=True)
    # the number drawn on both MIPs: one per baseline site (or per new lesion)
    numbers: dict[tuple[str, int], int] = {}
    nums = []
    for _, r in table.iterrows():
        key = (
            ("b", int(r["baseline_id"]))
            if pd.notna(r["baseline_id"])
            else ("f", int(r["followup_id"]))
        )
        if r["status"] == "merged":
            key = ("f", int(r["followup_id"]))
        numbers.setdefault(key, len(numbers) + 1)
        nums.append(numbers[key])
    table["match_number"] = nums
    for c in ("baseline_id", "followup_id"):
        table[c] = table[c].astype("Int64")
    return LesionMatching(table=table, residual=residual, distance_gate_mm=float(distance_gate_mm))
