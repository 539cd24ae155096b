"""DICOM series → :class:`~carpet.core.volume.Volume`, with exact geometry.

Rules (see ``docs/architecture.md``):

* Slices are sorted by their position along the slice normal
  ``n = row_cosine × column_cosine`` (ImageOrientationPatient), never by
  InstanceNumber or file name. Any orientation (head-first, feet-first,
  oblique, tilted) is represented exactly by the affine.
* Each slice is rescaled with its own RescaleSlope/RescaleIntercept; values
  stay in the series' own units (Bq/mL for BQML, HU for CT).
* Problems are reported, never silently "fixed": missing slices
  (``MISSING_SLICE``), duplicate positions with different pixels
  (``DUPLICATE_SLICE``; identical duplicates are dropped with a
  :class:`~carpet.errors.HeaderWarning`), non-uniform spacing
  (``NON_UNIFORM_SPACING``), mixed orientation/size/pixel spacing
  (``MIXED_GEOMETRY``) raise :class:`~carpet.errors.InconsistentSeriesError`.
* Speed: headers come from discovery (read once); uncompressed pixels are read
  straight from their byte offset, compressed ones are decoded by pydicom +
  pylibjpeg; both in a thread pool, into one preallocated float32 array
  (peak memory ≈ the output + one slice per thread).

Enhanced (multi-frame) PET is read frame by frame from the functional groups.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carpet.core.volume import Volume, affine_from_dicom
from carpet.errors import DicomHeaderError, HeaderWarning, InconsistentSeriesError, InputError
from carpet.ingest._fasttags import MALFORMED, fast_number, fast_numbers, fast_text, fast_us
from carpet.ingest.discover import InstanceHeader, SeriesInfo, read_instance_header
from carpet.units import Unit

__all__ = [
    "POSITION_TOL_MM",
    "ORIENTATION_TOL",
    "SeriesGeometry",
    "read_series_volume",
    "series_geometry",
    "unit_of_series",
]

logger = logging.getLogger(__name__)

#: Two slices closer than this along the normal are at the "same position" (mm).
POSITION_TOL_MM = 0.01
#: Allowed deviation of a slice position from the regular grid (mm, or fraction of the step).
SPACING_TOL_MM = 0.05
SPACING_TOL_FRACTION = 0.01
#: Allowed difference between two slices' direction cosines.
ORIENTATION_TOL = 1e-4

_UNIT_MAP = {u.value: u for u in (Unit.BQML, Unit.CNTS, Unit.PROPCNTS, Unit.GML, Unit.CM2ML)}


def unit_of_series(modality: str, units: str | None) -> Unit:
    """The :class:`Unit` of a series' rescaled values.

    >>> unit_of_series("PT", "BQML").value
    'BQML'
    >>> unit_of_series("CT", None).value
    'HU'
    """
    if modality.upper() == "CT":
        return Unit.HU
    return _UNIT_MAP.get((units or "").upper(), Unit.UNKNOWN)


# ---------------------------------------------------------------- per-slice records
class _Slice:
    __slots__ = (
        "header",
        "frame",
        "ipp",
        "iop",
        "rows",
        "cols",
        "spacing",
        "slope",
        "intercept",
        "sop",
        "position",
        "instance_number",
        "native_dtype",
    )

    def __init__(
        self,
        header: InstanceHeader,
        frame: int | None,
        ipp,
        iop,
        rows,
        cols,
        spacing,
        slope,
        intercept,
        sop,
        inst,
    ):
        self.header = header
        self.frame = frame
        self.ipp = ipp
        self.iop = iop
        self.rows = rows
        self.cols = cols
        self.spacing = spacing
        self.slope = slope
        self.intercept = intercept
        self.sop = sop
        self.instance_number = inst
        self.position = 0.0
        # decided here (main thread) so that pixel threads never touch the pydicom dataset
        self.native_dtype = _native_dtype(header.dataset) if frame is None else None


def _floats(
    value: Any, n: int, what: str, h: InstanceHeader, tag: str, series_uid: str
) -> np.ndarray:
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array([])
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise DicomHeaderError(
            f"{h.path}: {what} {tag} is missing or malformed (got {value!r}, expected {n} numbers) in series "
            f"{series_uid}; this file cannot be placed in space",
            code="MISSING_GEOMETRY",
            tag=tag,
            series_uid=series_uid,
            path=str(h.path),
        )
    return arr


def _number(ds: Any, keyword: str, default: float) -> float:
    v = ds.get(keyword)
    if v is None or v == "":
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _slices_of(h: InstanceHeader, series_uid: str) -> list[_Slice]:
    ds = h.dataset
    sop = fast_text(ds, "SOPInstanceUID")
    inst_f = fast_number(ds, "InstanceNumber", None)
    inst = int(inst_f) if inst_f is not None else None
    n_frames = int(fast_number(ds, "NumberOfFrames", 1) or 1)
    if "PerFrameFunctionalGroupsSequence" in ds:  # enhanced multi-frame
        shared = ds.get("SharedFunctionalGroupsSequence")
        shared = shared[0] if shared else None
        out = []
        for f, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):

            def grp(name: str, _fg=fg):
                if name in _fg:
                    return _fg[name].value[0]
                if shared is not None and name in shared:
                    return shared[name].value[0]
                return None

            pos = grp("PlanePositionSequence")
            ori = grp("PlaneOrientationSequence")
            pm = grp("PixelMeasuresSequence")
            pvt = grp("PixelValueTransformationSequence")
            ipp = _floats(
                getattr(pos, "ImagePositionPatient", None),
                3,
                "ImagePositionPatient",
                h,
                "(0020,0032)",
                series_uid,
            )
            iop = _floats(
                getattr(ori, "ImageOrientationPatient", None),
                6,
                "ImageOrientationPatient",
                h,
                "(0020,0037)",
                series_uid,
            )
            ps = _floats(
                getattr(pm, "PixelSpacing", None), 2, "PixelSpacing", h, "(0028,0030)", series_uid
            )
            slope = _number(pvt, "RescaleSlope", 1.0) if pvt is not None else 1.0
            icpt = _number(pvt, "RescaleIntercept", 0.0) if pvt is not None else 0.0
            out.append(
                _Slice(
                    h,
                    f,
                    ipp,
                    iop,
                    int(ds.Rows),
                    int(ds.Columns),
                    ps,
                    slope,
                    icpt,
                    f"{sop}#{f + 1}",
                    inst,
                )
            )
        return out
    if n_frames != 1:
        raise InputError(
            f"{h.path}: multi-frame image ({n_frames} frames) without per-frame functional groups is not supported",
            code="UNSUPPORTED_MULTIFRAME",
        )

    def numbers(keyword: str) -> Any:
        v = fast_numbers(ds, keyword)
        return (
            fast_text(ds, keyword) if v is MALFORMED else v
        )  # malformed: the text goes into the message

    ipp = _floats(
        numbers("ImagePositionPatient"), 3, "ImagePositionPatient", h, "(0020,0032)", series_uid
    )
    iop = _floats(
        numbers("ImageOrientationPatient"),
        6,
        "ImageOrientationPatient",
        h,
        "(0020,0037)",
        series_uid,
    )
    ps = _floats(numbers("PixelSpacing"), 2, "PixelSpacing", h, "(0028,0030)", series_uid)
    rows, cols = fast_us(ds, "Rows", None), fast_us(ds, "Columns", None)
    if not rows or not cols:
        raise DicomHeaderError(
            f"{h.path}: Rows/Columns (0028,0010/0011) missing in series {series_uid}",
            code="MISSING_GEOMETRY",
            tag="(0028,0010)",
            series_uid=series_uid,
            path=str(h.path),
        )
    slope = fast_number(ds, "RescaleSlope", 1.0)
    intercept = fast_number(ds, "RescaleIntercept", 0.0)
    return [_Slice(h, None, ipp, iop, rows, cols, ps, slope, intercept, sop, inst)]


# ---------------------------------------------------------------- pixel reading
def _native_dtype(ds: Any) -> np.dtype | None:
    bits = fast_us(ds, "BitsAllocated", 0) or 0
    stored = fast_us(ds, "BitsStored", bits) or bits
    signed = fast_us(ds, "PixelRepresentation", 0) == 1
    if (fast_us(ds, "SamplesPerPixel", 1) or 1) != 1:
        return None
    if bits == 16 and (stored == 16 or not signed):
        return np.dtype("<i2" if signed else "<u2")
    if bits == 32 and (stored == 32 or not signed):
        return np.dtype("<i4" if signed else "<u4")
    if bits == 8 and (stored == 8 or not signed):
        return np.dtype("i1" if signed else "u1")
    return None


def _raw_pixels(h: InstanceHeader, n_pixels: int, dt: np.dtype | None) -> np.ndarray:
    """Stored pixel values of one single-frame file (any transfer syntax)."""
    if (
        h.pixel_offset is not None
        and dt is not None
        and h.pixel_length is not None
        and h.pixel_length >= n_pixels * dt.itemsize
    ):
        nbytes = n_pixels * dt.itemsize
        # one reusable buffer per thread: no fresh (page-faulting) allocation per slice;
        # the caller consumes the returned view before this thread reads the next slice
        buf = getattr(_tls, "buf", None)
        if buf is None or len(buf) < nbytes:
            buf = _tls.buf = bytearray(nbytes)
        view = memoryview(buf)[:nbytes]
        with open(h.path, "rb", buffering=0) as fp:
            fp.seek(h.pixel_offset)
            got = fp.readinto(view)
            while got < nbytes:  # short reads are legal for raw files
                more = fp.readinto(view[got:])
                if not more:
                    break
                got += more
        if got != nbytes:
            raise InputError(f"{h.path}: truncated pixel data", code="TRUNCATED_FILE")
        return np.frombuffer(view, dtype=dt)
    return _decoded(h).ravel()


_tls = threading.local()


_JPEGLS_SYNTAXES = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")


def _charls_decoded(h: InstanceHeader) -> np.ndarray | None:
    """Decode a single-frame JPEG-LS file with CharLS straight from its bytes (fast path).

    Returns None when the fast path does not apply (the caller falls back to pydicom).
    """
    try:
        import jpeg_ls
    except ImportError:
        return None
    from pydicom.encaps import generate_frames

    ds = h.dataset
    if h.pixel_element_offset is None or int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return None
    with open(h.path, "rb") as fp:
        fp.seek(h.pixel_element_offset)
        buf = fp.read()
    if len(buf) < 12 or buf[:4] != b"\xe0\x7f\x10\x00" or buf[8:12] != b"\xff\xff\xff\xff":
        return None
    frame = next(generate_frames(buf[12:], number_of_frames=1))
    arr = jpeg_ls.decode(np.frombuffer(frame, dtype=np.uint8))
    rows, cols = int(ds.Rows), int(ds.Columns)
    if arr.shape != (rows, cols):
        return None
    bits_stored = int(ds.get("BitsStored", 16) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        if arr.dtype == np.uint16:
            arr = arr.view(np.int16)
        elif arr.dtype == np.uint8:
            arr = arr.view(np.int8)
        if bits_stored < arr.dtype.itemsize * 8:  # sign-extend
            shift = arr.dtype.itemsize * 8 - bits_stored
            arr = (arr << shift) >> shift
    return arr


def _decoded(h: InstanceHeader) -> np.ndarray:
    import pydicom

    if h.transfer_syntax in _JPEGLS_SYNTAXES:
        fast = _charls_decoded(h)
        if fast is not None:
            return fast

    try:
        ds = pydicom.dcmread(h.path)
        return ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoder plugins raise many types
        raise InputError(
            f"{h.path}: pixel data cannot be decoded ({type(exc).__name__}: {exc}); transfer syntax "
            f"{h.transfer_syntax}. Compressed data needs the pylibjpeg plugins (installed with carpet).",
            code="UNDECODABLE_PIXELS",
        ) from exc


def _fill(out: np.ndarray, k: int, s: _Slice, frames_cache: dict) -> None:
    n_pix = s.rows * s.cols
    if s.frame is None:
        raw = _raw_pixels(s.header, n_pix, s.native_dtype).reshape(s.rows, s.cols)
    else:
        key = id(s.header)
        arr = frames_cache.get(key)
        if arr is None:
            arr = _decoded(s.header)
            if arr.ndim == 2:
                arr = arr[None]
            frames_cache[key] = arr
        raw = arr[s.frame]
    dst = out[k]
    np.multiply(raw, s.slope, out=dst, casting="unsafe")
    if s.intercept != 0.0:
        dst += s.intercept


# ---------------------------------------------------------------- main entry
def _as_headers(
    series: SeriesInfo | Sequence[str | os.PathLike[str]],
) -> tuple[list[InstanceHeader], str | None, str]:
    if isinstance(series, SeriesInfo):
        return (
            list(series.instances),
            series.series_instance_uid,
            str(Path(series.files[0]).parent) if series.files else "",
        )
    paths = [Path(p) for p in series]
    if not paths:
        raise InputError("read_series_volume: no files given", code="EMPTY_SERIES")
    headers = [read_instance_header(p) for p in paths]
    uids = {str(h.dataset.get("SeriesInstanceUID", "")) for h in headers}
    if len(uids) > 1:
        raise InconsistentSeriesError(
            f"files from {len(uids)} different series were given ({sorted(uids)}); pass one series at a time "
            "(use carpet.ingest.discover to group them)",
            code="MIXED_SERIES",
        )
    return headers, uids.pop() or None, str(paths[0].parent)


@dataclass(frozen=True, eq=False)
class SeriesGeometry:
    """The grid of a series, from its headers only (no pixel data read).

    Attributes
    ----------
    affine : ndarray (4, 4)
        (k, j, i) → LPS mm.
    shape : (S, R, C)
    sop_instance_uids : list of str
        In slice order (enhanced frames: ``"<uid>#<frame>"``).
    warnings : list of str
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    sop_instance_uids: list[str]
    warnings: list[str]
    _slices: list = field(repr=False, default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: shape, spacing_mm, orientation, origin_mm, affine."""
        v = Volume(np.zeros((1, 1, 1), np.uint8), self.affine)
        return {
            "shape": list(self.shape),
            "spacing_mm": [round(x, 6) for x in v.spacing_mm],
            "orientation": v.orientation,
            "origin_mm": [round(float(x), 4) for x in self.affine[:3, 3]],
            "affine": [[round(float(x), 6) for x in row] for row in self.affine],
        }


def series_geometry(series: SeriesInfo | Sequence[str | os.PathLike[str]]) -> SeriesGeometry:
    """Sort a series along its slice normal and check it forms one regular grid.

    Reads headers only (pixels only to compare two instances at the same
    position). Same checks and errors as :func:`read_series_volume`.

    Parameters
    ----------
    series : SeriesInfo or list of paths

    Returns
    -------
    SeriesGeometry
    """
    headers, series_uid, _ = _as_headers(series)
    return _plan(headers, series_uid)


def _plan(headers: list[InstanceHeader], series_uid: str | None) -> SeriesGeometry:
    uid = series_uid or "(no SeriesInstanceUID)"
    if not headers:
        raise InputError(f"series {uid}: no files", code="EMPTY_SERIES")
    ds0 = headers[0].dataset
    slices: list[_Slice] = []
    for h in headers:
        slices.extend(_slices_of(h, uid))
    warn_list: list[str] = []

    # --- same geometry on every slice (vectorised check first; details only on failure)
    ref = slices[0]
    iops = np.array([s.iop for s in slices])
    sizes = np.array([(s.rows, s.cols) for s in slices])
    spacings = np.array([s.spacing for s in slices])
    uniform = (
        np.abs(iops - ref.iop).max() <= ORIENTATION_TOL
        and np.all(sizes == sizes[0])
        and np.abs(spacings - ref.spacing).max() <= 1e-4
    )
    for s in [] if uniform else slices[1:]:
        problems = []
        if not np.allclose(s.iop, ref.iop, atol=ORIENTATION_TOL):
            problems.append(
                f"ImageOrientationPatient {list(np.round(s.iop, 5))} vs {list(np.round(ref.iop, 5))}"
            )
        if (s.rows, s.cols) != (ref.rows, ref.cols):
            problems.append(f"Rows×Columns {s.rows}×{s.cols} vs {ref.rows}×{ref.cols}")
        if not np.allclose(s.spacing, ref.spacing, atol=1e-4):
            problems.append(f"PixelSpacing {list(s.spacing)} vs {list(ref.spacing)}")
        if problems:
            raise InconsistentSeriesError(
                f"series {uid}: instances do not share one geometry: {s.header.path} has "
                + "; ".join(problems)
                + f" (first file {ref.header.path}). Split the series or export it again from the scanner.",
                code="MIXED_GEOMETRY",
            )
    row_cos, col_cos = ref.iop[:3], ref.iop[3:]
    normal = np.cross(row_cos, col_cos)
    if abs(np.linalg.norm(normal) - 1.0) > 1e-3 or abs(float(row_cos @ col_cos)) > 1e-3:
        raise DicomHeaderError(
            f"series {uid}: ImageOrientationPatient {list(ref.iop)} is not two orthonormal vectors",
            code="MISSING_GEOMETRY",
            tag="(0020,0037)",
            series_uid=series_uid,
        )
    for s in slices:
        s.position = float(s.ipp @ normal)
    slices.sort(key=lambda s: s.position)

    # --- duplicates (same position): identical copies are dropped (one warning per series)
    kept: list[_Slice] = [slices[0]]
    dropped: list[tuple[_Slice, _Slice, str]] = []
    for s in slices[1:]:
        prev = kept[-1]
        if abs(s.position - prev.position) > POSITION_TOL_MM:
            kept.append(s)
            continue
        if s.sop == prev.sop:
            dropped.append((s, prev, "same SOPInstanceUID"))
            continue
        if _same_pixels(prev, s):
            dropped.append((s, prev, "identical pixels"))
            continue
        raise InconsistentSeriesError(
            f"series {uid}: two different images at the same position {s.position:.3f} mm along the slice "
            f"normal: {prev.header.path} (SOPInstanceUID {prev.sop}) and {s.header.path} (SOPInstanceUID "
            f"{s.sop}). The folder mixes two reconstructions or time points; keep only one of them.",
            code="DUPLICATE_SLICE",
        )
    if dropped:
        s, prev, why = dropped[0]
        msg = (
            f"series {uid}: {len(dropped)} duplicate instance(s) dropped (a second file at the same "
            f"position with {why}), e.g. {s.header.path} duplicates {prev.header.path}"
        )
        warn_list.append(msg)
        warnings.warn(msg, HeaderWarning, stacklevel=3)
    slices = kept
    n = len(slices)

    # --- spacing
    pos = np.array([s.position for s in slices])
    if n >= 2:
        steps = np.diff(pos)
        step = float(np.median(steps))
        tol = max(SPACING_TOL_MM, SPACING_TOL_FRACTION * step)
        bad = np.flatnonzero(np.abs(steps - step) > tol)
        if bad.size:
            ratio = steps[bad] / step
            gaps = np.abs(ratio - np.rint(ratio)) * step <= tol
            if np.all(gaps & (np.rint(ratio) >= 2)):
                where = ", ".join(
                    f"{int(np.rint(r)) - 1} between {pos[b]:.2f} and {pos[b + 1]:.2f} mm"
                    for b, r in zip(bad[:5], ratio[:5], strict=False)
                )
                n_missing = int(np.sum(np.rint(ratio) - 1))
                raise InconsistentSeriesError(
                    f"series {uid}: {n_missing} slice(s) missing (expected a slice every {step:.3f} mm along "
                    f"the normal; missing {where}). Files may have been lost in transfer; export the series "
                    "again.",
                    code="MISSING_SLICE",
                )
            raise InconsistentSeriesError(
                f"series {uid}: non-uniform slice spacing: steps between {steps.min():.3f} and "
                f"{steps.max():.3f} mm (median {step:.3f} mm, tolerance {tol:.3f} mm), e.g. between "
                f"{pos[bad[0]]:.2f} and {pos[bad[0] + 1]:.2f} mm. Resample the series to a regular grid first.",
                code="NON_UNIFORM_SPACING",
            )
        slice_vec = (slices[-1].ipp - slices[0].ipp) / (n - 1)
        # every position must lie on the line (no in-plane jumps)
        expected = slices[0].ipp + np.arange(n)[:, None] * slice_vec
        actual = np.array([s.ipp for s in slices])
        dev = np.abs(actual - expected).max()
        if dev > max(SPACING_TOL_MM, SPACING_TOL_FRACTION * step):
            raise InconsistentSeriesError(
                f"series {uid}: ImagePositionPatient does not follow a straight regular line (deviation "
                f"{dev:.3f} mm); the slices are shifted in-plane against each other.",
                code="NON_UNIFORM_SPACING",
            )
    else:
        thick = (
            _number(ds0, "SpacingBetweenSlices", 0.0) or _number(ds0, "SliceThickness", 0.0) or 1.0
        )
        slice_vec = normal * thick
        warn_list.append(
            f"series {uid}: single slice; slice step taken from SliceThickness ({thick} mm)"
        )

    affine = affine_from_dicom(slices[0].ipp, ref.iop, ref.spacing, slice_vec)

    return SeriesGeometry(
        affine, (n, ref.rows, ref.cols), [s.sop for s in slices], warn_list, slices
    )


def read_series_volume(
    series: SeriesInfo | Sequence[str | os.PathLike[str]],
    *,
    dtype: Any = np.float32,
    max_workers: int | None = None,
) -> Volume:
    """Read one DICOM image series into a :class:`Volume` (values in the series' units).

    Parameters
    ----------
    series : SeriesInfo or list of paths
        A series from :func:`carpet.ingest.discover` (headers are reused, not
        re-read) or the files of one series.
    dtype : numpy dtype
        Output dtype (default float32).
    max_workers : int, optional
        Threads reading/decoding pixels (default: up to 8).

    Returns
    -------
    Volume
        ``array[k]`` is the k-th slice in ascending position along the slice
        normal; ``affine`` maps (k, j, i) to LPS mm; ``unit`` from Units (PT)
        or HU (CT). ``meta`` holds ``series_instance_uid``, ``source``,
        ``modality``, ``sop_instance_uids`` (slice order), ``instance_numbers``,
        ``rescale_slopes``, ``rescale_intercepts``, ``files`` and ``warnings``.

    Raises
    ------
    InconsistentSeriesError
        ``MIXED_GEOMETRY``, ``MISSING_SLICE``, ``DUPLICATE_SLICE``,
        ``NON_UNIFORM_SPACING``, ``MIXED_SERIES``, ``EMPTY_SERIES``.
    DicomHeaderError
        ``MISSING_GEOMETRY`` when a file has no usable position/orientation.
    InputError
        ``UNDECODABLE_PIXELS``, ``TRUNCATED_FILE``.

    Notes
    -----
    Slice position ``d_k = IPP_k · n`` with ``n = r × c`` (row and column
    direction cosines). With the median step ``Δ``, a gap of ``m·Δ`` (m ≥ 2)
    means ``m − 1`` missing slices; any other deviation beyond
    max(0.05 mm, 1 % of Δ) is non-uniform spacing. The affine's slice column is
    ``(IPP_last − IPP_first) / (N − 1)``, which also represents gantry tilt.
    """
    headers, series_uid, source = _as_headers(series)
    uid = series_uid or "(no SeriesInstanceUID)"
    if not headers:
        raise InputError(f"series {uid}: no files", code="EMPTY_SERIES")
    geo = _plan(headers, series_uid)
    return _volume_from_plan(geo, headers, series_uid, source, dtype=dtype, max_workers=max_workers)


def _volume_from_plan(
    geo: SeriesGeometry,
    headers: list[InstanceHeader],
    series_uid: str | None,
    source: str,
    *,
    dtype: Any = np.float32,
    max_workers: int | None = None,
) -> Volume:
    """Read the pixels of a planned series into one preallocated array (thread pool)."""
    uid = series_uid or "(no SeriesInstanceUID)"
    slices = geo._slices
    n, rows, cols = geo.shape
    ds0 = headers[0].dataset
    modality = str(ds0.get("Modality", ""))
    affine = geo.affine
    warn_list = list(geo.warnings)
    ref = slices[0]

    # --- pixels
    out = np.empty((n, ref.rows, ref.cols), dtype=dtype)
    cache: dict = {}
    workers = max_workers or min(4, (os.cpu_count() or 2) * 2)
    if n >= 8 and workers > 1 and all(s.frame is None for s in slices):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for f in [pool.submit(_fill, out, k, s, cache) for k, s in enumerate(slices)]:
                f.result()
    else:
        for k, s in enumerate(slices):
            _fill(out, k, s, cache)

    units = str(ds0.get("Units", "")) or None
    meta = {
        "series_instance_uid": series_uid,
        "study_instance_uid": str(ds0.get("StudyInstanceUID", "")) or None,
        "modality": modality,
        "units": units if modality.upper() != "CT" else "HU",
        "source": source,
        "sop_instance_uids": [s.sop for s in slices],
        "instance_numbers": [s.instance_number for s in slices],
        "rescale_slopes": [s.slope for s in slices],
        "rescale_intercepts": [s.intercept for s in slices],
        "files": [str(s.header.path) for s in slices],
        "warnings": warn_list,
    }
    for_uid = str(ds0.get("FrameOfReferenceUID", "")) or None
    logger.info("read series %s: %d slices %dx%d from %s", uid, n, ref.rows, ref.cols, source)
    return Volume(
        out, affine, unit=unit_of_series(modality, units), frame_of_reference_uid=for_uid, meta=meta
    )


def _same_pixels(a: _Slice, b: _Slice) -> bool:
    if (a.rows, a.cols) != (b.rows, b.cols):
        return False
    x = np.empty((2, a.rows, a.cols), dtype=np.float64)
    _fill(x, 0, a, {})
    _fill(x, 1, b, {})
    return bool(np.array_equal(x[0], x[1]))
