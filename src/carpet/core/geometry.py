"""Grid-to-grid resampling: the one home of "put this volume on that grid".

Both grids are :class:`~carpet.core.volume.Volume` affines to LPS mm, so the
mapping from an output index to an input index is the exact matrix
``inv(A_in) @ A_ref``; no orientation guessing, no flips.
"""

from __future__ import annotations

import numpy as np

from carpet.core.volume import Volume
from carpet.errors import ConfigError
from carpet.units import Unit

__all__ = ["resample_to", "index_mapping"]


def index_mapping(volume: Volume, reference: Volume) -> np.ndarray:
    """4×4 matrix taking reference (k, j, i, 1) indices to ``volume`` indices.

    >>> import numpy as np
    >>> a = Volume(np.zeros((2, 2, 2)), np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> b = Volume(np.zeros((4, 4, 4)), np.eye(4))
    >>> index_mapping(a, b)[:3, :3].tolist()
    [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]]
    """
    return np.linalg.inv(volume.affine) @ reference.affine


def resample_to(
    volume: Volume,
    reference: Volume,
    *,
    order: int = 1,
    fill_value: float | None = None,
) -> Volume:
    """Resample ``volume`` onto the grid of ``reference`` (shape and affine).

    Parameters
    ----------
    volume : Volume
        Image to resample (any grid, any orientation).
    reference : Volume
        Provides the output grid; its values are not used.
    order : {0, 1, 3}
        Interpolation order: 1 (trilinear) for images, **0 (nearest) for label
        maps and masks** (forced for ``Unit.LABEL``/``Unit.MASK``).
    fill_value : float, optional
        Value outside ``volume``'s field of view; default −1000 for HU, else 0.

    Returns
    -------
    Volume
        On ``reference``'s grid, with ``volume``'s unit and frame of reference.
        Labels/masks keep their dtype; other images become float32.

    Notes
    -----
    Output voxel ``(k, j, i)`` takes the value of ``volume`` at index
    ``M @ (k, j, i, 1)`` with ``M = inv(A_volume) @ A_reference``
    (``scipy.ndimage.affine_transform``).

    Examples
    --------
    >>> import numpy as np
    >>> src = Volume(np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.eye(4))
    >>> resample_to(src, src).array.ravel().tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    from scipy import ndimage

    if order not in (0, 1, 2, 3):
        raise ConfigError(f"order must be 0, 1, 2 or 3; got {order}", code="INVALID_PARAMETER")
    is_label = volume.unit in (Unit.LABEL, Unit.MASK) or volume.array.dtype == bool
    if is_label:
        order = 0
    if fill_value is None:
        fill_value = -1000.0 if volume.unit is Unit.HU else 0.0
    meta = {**volume.meta, "resampled_to": reference.meta.get("series_instance_uid")}
    if volume.same_grid_as(reference, atol_mm=1e-4):
        return Volume(
            volume.array.copy(),
            reference.affine,
            unit=volume.unit,
            frame_of_reference_uid=volume.frame_of_reference_uid,
            meta=meta,
        )
    m = index_mapping(volume, reference)
    src = volume.array
    if is_label:
        src_in = src.astype(np.int32) if src.dtype == bool else src
        out_dtype = src.dtype
    else:
        src_in = src if src.dtype in (np.float32, np.float64) else src.astype(np.float32)
        out_dtype = np.float32
    out = np.empty(reference.shape, dtype=src_in.dtype if is_label else np.float32)
    ndimage.affine_transform(
        src_in,
        m[:3, :3],
        offset=m[:3, 3],
        output_shape=reference.shape,
        output=out,
        order=order,
        mode="constant",
        cval=fill_value,
        prefilter=order > 1,
    )
    return Volume(
        out.astype(out_dtype, copy=False),
        reference.affine,
        unit=volume.unit,
        frame_of_reference_uid=volume.frame_of_reference_uid,
        meta=meta,
    )
