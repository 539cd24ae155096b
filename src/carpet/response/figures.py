"""Pictures of ``carpet response``: side-by-side MIPs with matched numbers, kinetics plot."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carpet.core.volume import Volume
from carpet.units import Unit

__all__ = ["write_kinetics_plot", "write_response_mip"]


def _renumber(labels: Volume, mapping: dict[int, int]) -> Volume:
    lab = np.asarray(labels.array)
    lut = np.zeros(int(lab.max()) + 1 if lab.size else 1, dtype=np.int32)
    for lid, num in mapping.items():
        if 0 < lid < len(lut):
            lut[lid] = num
    return labels.with_array(lut[lab], unit=Unit.LABEL)


def _panel(
    fig: Any, pos: int, tp: Any, numbers: dict[int, int], title: str, suv_window: float
) -> None:
    import matplotlib
    from matplotlib import colors

    from carpet.export.mip import mip_arrays
    from carpet.measure.reference import reference_label_map

    regions = [r for r in (tp.liver, tp.mbp) if r is not None]
    refs = reference_label_map(tp.suv, regions)
    img, lab, ref, aspect = mip_arrays(tp.suv, _renumber(tp.labels, numbers), refs, view="coronal")
    ax = fig.add_subplot(1, 2, pos)
    ax.imshow(
        np.clip(img, 0, suv_window),
        cmap="gray_r",
        vmin=0,
        vmax=suv_window,
        aspect=aspect,
        interpolation="nearest",
    )
    cmap = matplotlib.colormaps["tab20"]
    if ref.any():
        ov = np.zeros((*ref.shape, 4))
        ov[ref == 1] = colors.to_rgba("#2ca02c", 0.6)
        ov[ref == 2] = colors.to_rgba("#d62728", 0.8)
        ax.imshow(ov, aspect=aspect, interpolation="nearest")
    if lab.any():
        rgba = cmap((lab % 20) / 20.0)
        rgba[..., 3] = np.where(lab > 0, 0.85, 0.0)
        ax.imshow(rgba, aspect=aspect, interpolation="nearest")
        for num in np.unique(lab[lab > 0]):
            r, c = np.argwhere(lab == num).mean(axis=0)
            ax.annotate(
                str(int(num)),
                (c, r),
                xytext=(8, 0),
                textcoords="offset points",
                fontsize=8,
                color="black",
                fontweight="bold",
                va="center",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
            )
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def write_response_mip(
    baseline: Any,
    followup: Any,
    matching: Any,
    path: str | os.PathLike[str],
    *,
    suv_window: float = 10.0,
) -> Path:
    """Baseline and follow-up coronal MIPs side by side; matched lesions carry the same number.

    Lesion colours follow the match number; the liver VOI is green, the MBP VOI red.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from carpet._io import atomic_write_bytes

    t: pd.DataFrame = matching.table
    bnum = {
        int(b): int(n)
        for b, n in zip(t["baseline_id"], t["match_number"], strict=False)
        if pd.notna(b)
    }
    fnum = {
        int(f): int(n)
        for f, n in zip(t["followup_id"], t["match_number"], strict=False)
        if pd.notna(f)
    }
    fig = Figure(figsize=(9, 8), dpi=100)

    def title(tp: Any, name: str) -> str:
        d = tp.timepoint
        day = "" if d.day_from_infusion is None else f", day {d.day_from_infusion:+d}"
        return f"{name}: {d.role} {d.study_date or ''}{day}"

    _panel(fig, 1, baseline, bnum, title(baseline, "baseline"), suv_window)
    _panel(fig, 2, followup, fnum, title(followup, "follow-up (own space)"), suv_window)
    counts = t["status"].value_counts().to_dict()
    fig.text(
        0.5,
        0.02,
        "same number = same lesion site; "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + "; green: liver VOI, red: MBP VOI; coronal MIP, SUV 0-"
        + f"{suv_window:g}",
        ha="center",
        fontsize=8,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def write_kinetics_plot(timeline: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """TMTV and SUVmax over days from infusion (or study index when no infusion date)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from carpet._io import atomic_write_bytes

    days = timeline["day_from_infusion"]
    use_days = days.notna().all()
    x = days.to_numpy(float) if use_days else np.arange(len(timeline), dtype=float)
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, timeline["tmtv_ml"].to_numpy(float), "o-", color="#1f77b4", label="TMTV (mL)")
    ax.set_ylabel("TMTV (mL)", color="#1f77b4")
    ax2 = ax.twinx()
    ax2.plot(x, timeline["suv_max"].to_numpy(float), "s--", color="#d62728", label="SUVmax")
    ax2.set_ylabel("SUVmax (g/mL)", color="#d62728")
    for xi, role in zip(x, timeline["role"], strict=False):
        ax.annotate(
            str(role),
            (xi, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    if use_days:
        ax.axvline(0.0, color="grey", lw=0.8, ls=":")
        ax.annotate(
            "infusion",
            (0.0, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -10),
            textcoords="offset points",
            fontsize=8,
            color="grey",
        )
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    ax.set_xlabel("days from infusion" if use_days else "study")
    ax.set_title("Tumour burden kinetics", fontsize=10)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
