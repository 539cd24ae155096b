"""Maximum-intensity projection picture of an analysis (``mip.png``).

Coronal (viewed from the front, patient's right on the image left) and sagittal
(viewed from the patient's left) MIPs of the SUV in inverted grey, lesions
coloured by id, removed physiological uptake tinted blue, head at the top, and
pixel aspect from the voxel spacing.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from carpet.core.volume import Volume

__all__ = ["mip_arrays", "write_mip"]


def _axis_of(volume: Volume, world_axis: int) -> int:
    """Array axis whose direction is closest to a world (LPS) axis."""
    return int(np.argmax(np.abs(volume.direction[world_axis, :])))


def mip_arrays(
    suv: Volume, labels: Volume, excluded: Volume | None = None, *, view: str = "coronal"
):
    """Projected SUV, lesion ids (highest id along each ray) and excluded codes for one view.

    Returns
    -------
    (ndarray, ndarray, ndarray, float)
        Images with rows from head to feet, and the pixel aspect (row/col spacing).
    """
    proj_axis = _axis_of(suv, 1 if view == "coronal" else 0)
    z_axis = _axis_of(suv, 2)
    other = ({0, 1, 2} - {proj_axis, z_axis}).pop()
    a = suv.array
    img = a.max(axis=proj_axis)
    lab_proj = labels.array.max(axis=proj_axis)  # colour of the highest id along the ray
    exc = (
        excluded.array.max(axis=proj_axis)
        if excluded is not None
        else np.zeros_like(img, dtype=np.uint8)
    )
    # order remaining axes as (z, other)
    rem = [ax for ax in (0, 1, 2) if ax != proj_axis]
    if rem.index(z_axis) != 0:
        img, lab_proj, exc = img.T, lab_proj.T, exc.T
    # head at the top: z must decrease down the rows
    if suv.direction[2, z_axis] > 0:
        img, lab_proj, exc = img[::-1], lab_proj[::-1], exc[::-1]
    # coronal: patient right (−x) on the image left; sagittal: anterior (−y) on the left
    horiz_world = 0 if view == "coronal" else 1
    if suv.direction[horiz_world, other] < 0:
        img, lab_proj, exc = img[:, ::-1], lab_proj[:, ::-1], exc[:, ::-1]
    aspect = suv.spacing_mm[z_axis] / suv.spacing_mm[other]
    return img, lab_proj, exc, aspect


#: Lesion colours (no blue: blue marks removed physiological uptake).
LESION_COLOURS = (
    "#d62728",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
    "#ff9896",
)


def write_mip(
    suv: Volume,
    labels: Volume,
    excluded: Volume | None,
    path: str | os.PathLike[str],
    *,
    suv_window: float = 10.0,
    height_in: float = 8.0,
) -> Path:
    """Write the coronal + sagittal MIP PNG (atomically), sized to the body's proportions."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colors
    from matplotlib.figure import Figure

    from carpet._io import atomic_write_bytes

    views = [(v, *mip_arrays(suv, labels, excluded, view=v)) for v in ("coronal", "sagittal")]
    heights = [img.shape[0] * aspect for _, img, _, _, aspect in views]
    widths = [img.shape[1] for _, img, _, _, _ in views]
    ratio = sum(widths) / max(heights)
    if height_in * ratio > 14.0:  # wide field of view: keep the width, shrink the height
        height_in = 14.0 / ratio
    width_in = max(4.0, height_in * ratio * 1.08 + 0.3)
    fig = Figure(figsize=(width_in, height_in + 0.6), dpi=100)
    grid = fig.add_gridspec(
        1, 2, width_ratios=widths, left=0.02, right=0.98, top=0.94, bottom=0.06, wspace=0.05
    )
    palette = np.array([colors.to_rgba(c) for c in LESION_COLOURS])
    for n, (view, img, lab, exc, aspect) in enumerate(views):
        ax = fig.add_subplot(grid[0, n])
        ax.imshow(
            np.clip(img, 0, suv_window),
            cmap="gray_r",
            vmin=0,
            vmax=suv_window,
            aspect=aspect,
            interpolation="nearest",
        )
        if exc.any():
            ov = np.zeros((*exc.shape, 4))
            ov[exc > 0] = colors.to_rgba("#1f77b4", 0.5)
            ax.imshow(ov, aspect=aspect, interpolation="nearest")
        if lab.any():
            rgba = palette[(lab - 1) % len(palette)]
            rgba[..., 3] = np.where(lab > 0, 0.9, 0.0)
            ax.imshow(rgba, aspect=aspect, interpolation="nearest")
        ax.set_title(f"{view} MIP (SUV 0-{suv_window:g})", fontsize=9)
        ax.set_axis_off()
    fig.text(
        0.5,
        0.015,
        "coloured: lesions    blue: removed physiological uptake",
        ha="center",
        fontsize=8,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
