"""Coronal maximum-intensity projection of the review page, with its ray lookup.

The analysis PNG of ``carpet analyze`` (``carpet.export``) is a static picture;
the review page needs more: for every MIP pixel, *which voxel* was the hottest
along its ray and which lesion (if any) is the hottest along it, so that a click
selects a lesion and moves the slice views to it. This module keeps those maps.

Orientation: the projection runs along the array axis closest to the
anterior-posterior (LPS y) direction; image rows go from head to feet (LPS z
decreasing) and image columns from the patient's right to left (LPS x increasing),
i.e. the usual radiological coronal view, whatever the acquisition orientation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from carpet.core.volume import Volume

__all__ = ["CoronalMip", "coronal_mip", "MIP_SUV_WINDOW"]

#: SUV shown as full black on the MIP (display only).
MIP_SUV_WINDOW = 10.0

_LESION_RGB = np.array([230, 40, 30], np.float32)
_REMOVED_RGB = np.array([150, 150, 150], np.float32)
_ORGAN_RGB = np.array([40, 110, 235], np.float32)


@dataclass
class CoronalMip:
    """A coronal MIP with per-pixel ray information.

    Attributes
    ----------
    image : ndarray (H, W) float32
        Maximum SUV along each ray.
    depth : ndarray (H, W) int
        Index along the projection axis of the hottest voxel.
    lesion_id : ndarray (H, W) int32
        Id of the lesion owning the hottest *lesion* voxel along the ray (0: none).
    lesion_depth : ndarray (H, W) int
        Index along the projection axis of that voxel.
    organ : ndarray (H, W) bool
        Some excluded-organ voxel lies on the ray.
    axes : tuple of int
        Array axes (vertical, horizontal, projection).
    flips : tuple of bool
        Whether the vertical / horizontal axes are reversed in the picture.
    pixel_mm : tuple of float
        Pixel size (width, height) in mm, for an undistorted display.
    """

    image: np.ndarray
    depth: np.ndarray
    lesion_id: np.ndarray
    lesion_depth: np.ndarray
    organ: np.ndarray
    axes: tuple[int, int, int]
    flips: tuple[bool, bool]
    pixel_mm: tuple[float, float]
    shape: tuple[int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    # ------------------------------------------------------------------ index mapping
    def pixel_to_index(self, column: int, row: int, depth: int) -> tuple[int, int, int]:
        """Volume index (k, j, i) of the voxel at picture (column, row) and projection ``depth``."""
        v = self.shape[self.axes[0]] - 1 - row if self.flips[0] else row
        h = self.shape[self.axes[1]] - 1 - column if self.flips[1] else column
        idx = [0, 0, 0]
        idx[self.axes[0]], idx[self.axes[1]], idx[self.axes[2]] = v, h, depth
        return int(idx[0]), int(idx[1]), int(idx[2])

    def index_to_pixel(self, index: np.ndarray) -> tuple[int, int]:
        """Picture (column, row) of a (possibly fractional) volume index (k, j, i)."""
        v = float(index[self.axes[0]])
        h = float(index[self.axes[1]])
        row = self.shape[self.axes[0]] - 1 - v if self.flips[0] else v
        col = self.shape[self.axes[1]] - 1 - h if self.flips[1] else h
        return int(round(col)), int(round(row))

    def pick(self, column: int, row: int) -> tuple[int, tuple[int, int, int]]:
        """Lesion and voxel selected by a click at (column, row).

        The hottest voxel of the ray is taken when it belongs to a lesion, else
        the hottest lesion voxel of the ray; with no lesion on the ray the
        lesion id is 0 and the voxel is the hottest of the ray.
        """
        lid = int(self.lesion_id[row, column])
        depth = int(self.lesion_depth[row, column]) if lid else int(self.depth[row, column])
        return lid, self.pixel_to_index(column, row, depth)

    # ------------------------------------------------------------------ updates
    def update_lesions(
        self, suv: np.ndarray, labels: np.ndarray, box: tuple[slice, slice, slice] | None = None
    ) -> None:
        """Recompute the lesion maps (whole picture, or only the rays crossing ``box``).

        Works on the lesion voxels only (sparse), so it costs one scan of ``labels``
        (of the box's rays) plus a sort of the lesion voxels.
        """
        if box is None:
            box = tuple(slice(0, n) for n in self.shape)  # type: ignore[assignment]
        full = list(box)
        full[self.axes[2]] = slice(0, self.shape[self.axes[2]])
        origin = np.array([sl.start or 0 for sl in full])
        sub = labels[tuple(full)]
        flat = np.flatnonzero(sub != 0)  # a bool mask is scanned several times faster
        rows_sl, cols_sl = self._picture_slices(tuple(full))
        self.lesion_id[rows_sl, cols_sl] = 0
        self.lesion_depth[rows_sl, cols_sl] = 0
        if flat.size == 0:
            return
        idx = np.unravel_index(flat, sub.shape)
        vals = suv[tuple(full)][idx]
        glob = [idx[a] + origin[a] for a in range(3)]
        v, h, d = glob[self.axes[0]], glob[self.axes[1]], glob[self.axes[2]]
        rows = self.shape[self.axes[0]] - 1 - v if self.flips[0] else v
        cols = self.shape[self.axes[1]] - 1 - h if self.flips[1] else h
        key = rows.astype(np.int64) * self.image.shape[1] + cols
        order = np.lexsort((vals, key))  # by pixel, hottest last
        key_sorted = key[order]
        last = np.r_[key_sorted[1:] != key_sorted[:-1], True]
        pick = order[last]
        self.lesion_id[rows[pick], cols[pick]] = sub[idx][pick].astype(np.int32)
        self.lesion_depth[rows[pick], cols[pick]] = d[pick]

    def _picture_slices(self, box: tuple[slice, slice, slice]) -> tuple[slice, slice]:
        out = []
        for ax_pos, flip in zip(self.axes[:2], self.flips, strict=True):
            sl, n = box[ax_pos], self.shape[ax_pos]
            start, stop = sl.start or 0, n if sl.stop is None else sl.stop
            out.append(slice(n - stop, n - start) if flip else slice(start, stop))
        return out[0], out[1]

    # ------------------------------------------------------------------ rendering
    def render_png(
        self, status_by_id: dict[int, str], *, suv_window: float = MIP_SUV_WINDOW
    ) -> bytes:
        """PNG of the MIP: inverted grey SUV, lesions red, removed grey, excluded organs blue.

        Parameters
        ----------
        status_by_id : dict
            Lesion id -> status (``auto``, ``added``, ``removed``, ``physiological``).
        suv_window : float
            SUV shown as full black.
        """
        from PIL import Image

        v = np.clip(self.image / suv_window, 0.0, 1.0)
        grey = (1.0 - v)[..., None] * 255.0
        rgb = np.repeat(grey, 3, axis=2)
        strength = (0.35 + 0.65 * v)[..., None]
        if self.organ.any():
            rgb = np.where(self.organ[..., None], rgb * (1 - strength) + _ORGAN_RGB * strength, rgb)
        if status_by_id:
            ids = np.array(sorted(status_by_id), dtype=np.int64)
            max_id = int(max(ids.max(), self.lesion_id.max()))
            code = np.zeros(max_id + 1, np.uint8)  # 0 none, 1 active, 2 removed, 3 physiological
            for lid, st in status_by_id.items():
                code[lid] = {"removed": 2, "physiological": 3}.get(st, 1)
            c = code[np.clip(self.lesion_id, 0, max_id)]
            for value, colour in ((1, _LESION_RGB), (2, _REMOVED_RGB), (3, _ORGAN_RGB)):
                m = (c == value)[..., None]
                rgb = np.where(m, rgb * (1 - strength) + colour * strength, rgb)
        img = Image.fromarray(np.ascontiguousarray(rgb.astype(np.uint8)), "RGB")
        buf = io.BytesIO()
        img.save(buf, "PNG", compress_level=1)
        return buf.getvalue()


def _orientation(vol: Volume) -> tuple[tuple[int, int, int], tuple[bool, bool]]:
    d = vol.direction  # columns: unit vectors of the array axes in LPS
    proj = int(np.argmax(np.abs(d[1, :])))  # closest to A-P
    rest = [a for a in range(3) if a != proj]
    vert = max(rest, key=lambda a: abs(d[2, a]))  # closest to S-I
    horiz = next(a for a in rest if a != vert)
    flip_v = bool(d[2, vert] > 0)  # index increasing towards head: flip so the head is on top
    flip_h = bool(d[0, horiz] < 0)  # index increasing towards patient right: flip
    return (vert, horiz, proj), (flip_v, flip_h)


def _oriented2(img: np.ndarray, flips: tuple[bool, bool]) -> np.ndarray:
    if flips[0]:
        img = img[::-1]
    if flips[1]:
        img = img[:, ::-1]
    return np.ascontiguousarray(img)


def _argmax_along(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.argmax(a, axis=axis)``, slab by slab along axis 0 when ``axis`` is not 0
    (numpy transposes the whole volume for a non-last axis; one slab stays in cache).

    Examples
    --------
    >>> a = np.random.default_rng(0).random((3, 4, 5))
    >>> all(np.array_equal(_argmax_along(a, ax), np.argmax(a, axis=ax)) for ax in range(3))
    True
    """
    if axis == 0 or a.ndim != 3:
        return np.argmax(a, axis=axis)
    out = np.empty(tuple(n for k, n in enumerate(a.shape) if k != axis), np.intp)
    for k in range(a.shape[0]):
        out[k] = np.argmax(a[k], axis=axis - 1)
    return out


def coronal_mip(suv: Volume, labels: np.ndarray, excluded: np.ndarray | None = None) -> CoronalMip:
    """Compute the coronal MIP and its ray maps.

    Parameters
    ----------
    suv : Volume
        SUV volume (g/mL).
    labels : ndarray (S, R, C) int
        Every lesion known to the review (automatic and added, whatever their
        status), on the SUV grid.
    excluded : ndarray (S, R, C) or None
        Non-zero where physiological uptake was excluded automatically.

    Returns
    -------
    CoronalMip

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 5, 6), np.float32); a[1, 2, 3] = 9.0
    >>> lab = np.zeros(a.shape, np.int32); lab[1, 2, 3] = 7
    >>> aff = np.array([[0, 0, 2.0, 0], [0, 2.0, 0, 0], [-3.0, 0, 0, 0], [0, 0, 0, 1]])
    >>> m = coronal_mip(Volume(a, aff), lab)
    >>> m.size  # 6 columns (x), 4 rows (z)
    (6, 4)
    >>> m.pick(3, 1)
    (7, (1, 2, 3))
    """
    axes, flips = _orientation(suv)
    # project in the array's own layout (fast reductions), then orient the 2-D result
    depth3 = _argmax_along(suv.array, axes[2])
    image3 = np.take_along_axis(suv.array, np.expand_dims(depth3, axes[2]), axis=axes[2]).squeeze(
        axes[2]
    )
    rest = [a for a in range(3) if a != axes[2]]
    order2 = (rest.index(axes[0]), rest.index(axes[1]))
    depth = _oriented2(depth3.transpose(order2), flips)
    image = _oriented2(image3.transpose(order2), flips).astype(np.float32)
    if excluded is not None:
        organ = _oriented2((np.asarray(excluded) > 0).any(axis=axes[2]).transpose(order2), flips)
    else:
        organ = np.zeros(image.shape, bool)
    spacing = suv.spacing_mm
    m = CoronalMip(
        image=image,
        depth=depth.astype(np.int64),
        lesion_id=np.zeros(image.shape, np.int32),
        lesion_depth=np.zeros(image.shape, np.int64),
        organ=organ,
        axes=axes,
        flips=flips,
        pixel_mm=(float(spacing[axes[1]]), float(spacing[axes[0]])),
        shape=suv.shape,
    )
    m.update_lesions(suv.array, np.asarray(labels))
    return m
