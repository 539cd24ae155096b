"""Find the DICOM series under a path: any file names, DICOMDIR or not, mixed studies.

Only headers are read (``stop_before_pixels``); for uncompressed pixel data the
byte offset and length of PixelData are recorded so that
:func:`carpet.ingest.dicom.read_series_volume` can read the pixels without
parsing the header a second time, and so that truncated files are caught here.
Files that cannot be used (not DICOM, unreadable, truncated, no
SeriesInstanceUID) are listed in :attr:`Discovery.problems` and never stop the
walk.

Examples
--------
>>> import tempfile
>>> from carpet.synthetic import make_whole_body_study, write_pet_dicom
>>> folder = tempfile.mkdtemp()
>>> s = make_whole_body_study(fov="head_neck", spacing_mm=(10, 10, 10), n_lesions=0, with_ct=False)
>>> _ = write_pet_dicom(s, folder)
>>> d = discover(folder)
>>> [(x.kind, x.n_instances, x.units) for x in d.series]
[('PT', 34, 'BQML')]
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carpet.errors import InputError, NoPetSeriesError
from carpet.ingest._fasttags import fast_text
from carpet.suv.factors import SUPPORTED_UNITS

__all__ = [
    "Discovery",
    "FileProblem",
    "InstanceHeader",
    "SeriesInfo",
    "classify_series",
    "discover",
    "read_instance_header",
]

logger = logging.getLogger(__name__)

_SOP_KIND = {
    "1.2.840.10008.5.1.4.1.1.128": "PT",  # PET Image Storage
    "1.2.840.10008.5.1.4.1.1.130": "PT",  # Enhanced PET Image Storage
    "1.2.840.10008.5.1.4.1.1.128.1": "PT",  # Legacy Converted Enhanced PET
    "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.2.1": "CT",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.66.4": "SEG",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.67": "RWV",
}
_MODALITY_KIND = {"PT": "PT", "CT": "CT", "SEG": "SEG", "RTSTRUCT": "RTSTRUCT", "RWV": "RWV"}
_DICOMDIR_SOP = "1.2.840.10008.1.3.10"
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
#: Header values larger than this are not loaded by discovery (read on access).
_DEFER_SIZE = "16 KB"
#: Units (0054,1001) that carpet.suv can convert (its one home: carpet.suv.SUPPORTED_UNITS).
SUV_CONVERTIBLE_UNITS = SUPPORTED_UNITS
_NATIVE_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")  # implicit / explicit VR LE


@dataclass(frozen=True)
class FileProblem:
    """A file that could not be used, and why."""

    path: Path
    reason: str
    code: str = "UNREADABLE_FILE"

    def to_dict(self) -> dict[str, str]:
        """``{"path", "reason", "code"}`` for JSON outputs."""
        return {"path": str(self.path), "reason": self.reason, "code": self.code}


@dataclass(frozen=True, eq=False)
class InstanceHeader:
    """One DICOM file's header (no pixel data) and where its pixels are.

    ``pixel_offset`` / ``pixel_length`` locate the PixelData value in the file
    for uncompressed little-endian files (``None`` otherwise).
    """

    path: Path
    dataset: Any
    transfer_syntax: str
    pixel_offset: int | None = None
    pixel_length: int | None = None
    pixel_element_offset: int | None = None  # where the PixelData element starts (any syntax)

    @property
    def sop_instance_uid(self) -> str:
        """SOPInstanceUID (0008,0018)."""
        return str(self.dataset.get("SOPInstanceUID", ""))


@dataclass(frozen=True, eq=False)
class SeriesInfo:
    """One series found by :func:`discover` (headers only).

    Attributes
    ----------
    series_instance_uid, study_instance_uid : str
    modality : str
        Modality (0008,0060) as stored.
    kind : {"PT", "CT", "SEG", "RTSTRUCT", "RWV", "OTHER"}
    files : list of Path
    series_description : str
    frame_of_reference_uid : str or None
    units : str or None
        Units (0054,1001) for PET, ``"HU"`` for CT, else None.
    corrected_image : tuple of str
        CorrectedImage (0028,0051).
    is_attenuation_corrected : bool
        ``"ATTN"`` in CorrectedImage.
    n_instances : int
    instances : list of InstanceHeader
    series_number : int or None
    image_type : tuple of str
    """

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    kind: str
    files: list[Path]
    series_description: str
    frame_of_reference_uid: str | None
    units: str | None
    corrected_image: tuple[str, ...]
    is_attenuation_corrected: bool
    n_instances: int
    instances: list[InstanceHeader] = field(repr=False, default_factory=list)
    series_number: int | None = None
    image_type: tuple[str, ...] = ()
    sop_class_uid: str = ""

    @property
    def is_localizer(self) -> bool:
        """True for CT scouts/localizers (ImageType contains LOCALIZER)."""
        return "LOCALIZER" in self.image_type

    @property
    def datasets(self) -> list[Any]:
        """The header datasets (no pixel data), in discovery order."""
        return [i.dataset for i in self.instances]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no file list)."""
        return {
            "series_instance_uid": self.series_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "modality": self.modality,
            "kind": self.kind,
            "series_description": self.series_description,
            "series_number": self.series_number,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "units": self.units,
            "corrected_image": list(self.corrected_image),
            "is_attenuation_corrected": self.is_attenuation_corrected,
            "n_instances": self.n_instances,
        }


@dataclass(frozen=True, eq=False)
class Discovery:
    """Everything found under a path."""

    root: Path
    series: list[SeriesInfo]
    problems: list[FileProblem]
    n_files: int = 0

    def pick_pet(self, series_uid: str | None = None) -> SeriesInfo:
        """The PET series to analyse.

        Parameters
        ----------
        series_uid : str, optional
            Pick this SeriesInstanceUID (must be a PET series).

        Returns
        -------
        SeriesInfo
            By default the attenuation-corrected PET series; when several, the
            one with the most instances (ties: lowest SeriesNumber).

        Raises
        ------
        NoPetSeriesError
            Nothing suitable under :attr:`root`; the message lists what was found.
        """
        pets = [s for s in self.series if s.kind == "PT"]
        if series_uid is not None:
            for s in self.series:
                if s.series_instance_uid == series_uid:
                    if s.kind != "PT":
                        raise NoPetSeriesError(
                            f"series {series_uid} under {self.root} is {s.kind} (modality {s.modality}), "
                            "not PET; give the SeriesInstanceUID of a PET series (see `carpet info`)",
                            code="NOT_PET_SERIES",
                        )
                    return s
            raise NoPetSeriesError(
                f"no series with SeriesInstanceUID {series_uid} under {self.root}; found "
                f"{self._found()}. Run `carpet info {self.root}` to list the series.",
                code="SERIES_NOT_FOUND",
            )
        ac = [s for s in pets if s.is_attenuation_corrected]
        if not ac:
            if pets:
                raise NoPetSeriesError(
                    f"no attenuation-corrected PET series under {self.root}: the PET series found have "
                    f"CorrectedImage (0028,0051) without ATTN ({self._found()}). Give --series-uid to "
                    "choose one explicitly.",
                    code="NO_AC_PET_SERIES",
                )
            raise NoPetSeriesError(
                f"no PET series under {self.root}: found {self._found()}"
                + (f"; {len(self.problems)} file(s) could not be read" if self.problems else "")
                + ". Point carpet at the folder of a PET/CT study.",
            )
        # prefer SUV-convertible Units (GE labels some NAC series "ATTN" but stores PROPCNTS),
        # then the most instances, then the lowest SeriesNumber
        ac.sort(
            key=lambda s: (
                (s.units or "").upper() not in SUV_CONVERTIBLE_UNITS,
                -s.n_instances,
                s.series_number if s.series_number is not None else 1 << 30,
            )
        )
        return ac[0]

    def _found(self) -> str:
        if not self.series:
            return "no DICOM series"
        return ", ".join(
            f"{s.kind} '{s.series_description}' ({s.n_instances} files, uid {s.series_instance_uid})"
            for s in self.series
        )


def classify_series(modality: str, sop_class_uid: str) -> str:
    """Kind of a series from its SOPClassUID, else its Modality.

    >>> classify_series("PT", "1.2.840.10008.5.1.4.1.1.128")
    'PT'
    >>> classify_series("SR", "1.2.840.10008.5.1.4.1.1.88.22")
    'OTHER'
    >>> classify_series("PT", "1.2.840.10008.5.1.4.1.1.7")  # secondary capture
    'OTHER'
    """
    if sop_class_uid.startswith(_SECONDARY_CAPTURE_PREFIX):
        return "OTHER"  # screenshots/secondary captures are not volumes, whatever their Modality
    return _SOP_KIND.get(sop_class_uid) or _MODALITY_KIND.get(modality.upper(), "OTHER")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many header objects are created.

    Parsing a series creates ~100 000 small, long-lived objects (pydicom elements); the
    collector would re-scan them again and again (~20 % of discovery's CPU time). None of
    them form garbage cycles, and the collector is switched back on (if it was on) at once.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _iter_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _pixel_location(
    fp: Any, tell: int, size: int, explicit_vr: bool
) -> tuple[int | None, int | None]:
    """Offset and length of the PixelData value starting at ``tell`` (None if undefined)."""
    fp.seek(tell)
    head = fp.read(12 if explicit_vr else 8)
    if len(head) < 8:
        return None, None
    group, elem = struct.unpack("<HH", head[:4])
    if (group, elem) != (0x7FE0, 0x0010):
        return None, None
    if explicit_vr:
        if len(head) < 12:
            return None, None
        vr = head[4:6]
        if vr in (b"OB", b"OW", b"OF", b"OD", b"OL", b"UN", b"OV", b"SQ", b"UT", b"UC", b"UR"):
            (length,) = struct.unpack("<I", head[8:12])
            offset = tell + 12
        else:
            (length,) = struct.unpack("<H", head[6:8])
            offset = tell + 8
    else:
        (length,) = struct.unpack("<I", head[4:8])
        offset = tell + 8
    if length == 0xFFFFFFFF:
        return None, None
    return offset, length


_DEFLATED = "1.2.840.10008.1.2.1.99"
_SEQ_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


_TAIL_BYTES = 65536


def _has_sequence_delimiter(fp: Any, size: int, *, tail_bytes: int = _TAIL_BYTES) -> bool:
    """True if the encapsulated PixelData's Sequence Delimitation Item is in the file's tail.

    Encapsulated pixel data is the last element (before optional trailing padding), so a
    file cut short loses its final (FFFE,E0DD) item.
    """
    fp.seek(max(0, size - tail_bytes))
    return _SEQ_DELIMITER in fp.read()


#: Bytes of a file parsed from memory first (headers, even GE PET ones, are a few KiB).
_HEAD_BYTES = 32768
#: The elements ``stop_before_pixels`` stops at, little and big endian.
_PIXEL_TAGS = frozenset(
    struct.pack(f"{e}HH", 0x7FE0, el) for e in "<>" for el in (0x0008, 0x0009, 0x0010)
)


def _parse_header(fp: Any, path: Path) -> Any:
    """pydicom's header parse of ``fp`` (stopped before the pixels); refuses non-DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(fp, stop_before_pixels=True, defer_size=_DEFER_SIZE)
    except InvalidDicomError:
        # no DICM preamble: only a dataset that starts with a group 0002/0008 element is
        # tried (never parse arbitrary bytes: garbage lengths can mean gigabyte reads)
        fp.seek(0)
        if fp.read(2) not in (b"\x02\x00", b"\x08\x00"):
            raise InputError(
                f"{path}: not a DICOM file (no DICM preamble)", code="NOT_DICOM"
            ) from None
        fp.seek(0)
        try:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=_DEFER_SIZE, force=True)
        except Exception as exc:  # noqa: BLE001 - arbitrary bytes: any parser failure means "not DICOM"
            raise InputError(f"{path}: not a DICOM file ({exc})", code="NOT_DICOM") from exc
        if "SOPInstanceUID" not in ds and "SeriesInstanceUID" not in ds:
            raise InputError(
                f"{path}: not a DICOM file (no DICM preamble, no DICOM UIDs)",
                code="NOT_DICOM",
            ) from None
        return ds


def _bind_to_file(ds: Any, path: Path, st: os.stat_result) -> None:
    """Make a dataset parsed from an in-memory head look read from ``path``.

    Deferred (large) values are then read from the file, as for a dataset read from
    the file object, and the in-memory copy is not kept alive by the dataset.
    """
    if hasattr(ds, "fileobj_type"):
        ds.buffer = None
        ds.filename = str(path)
        ds.fileobj_type = open
        ds.timestamp = st.st_mtime


def read_instance_header(path: str | os.PathLike[str]) -> InstanceHeader:
    """Read one file's DICOM header and locate its pixel data.

    Parameters
    ----------
    path : path
        A DICOM Part-10 file (or a preamble-less DICOM dataset).

    Returns
    -------
    InstanceHeader

    Raises
    ------
    InputError
        ``NOT_DICOM`` (not a DICOM file), ``UNREADABLE_FILE`` (I/O or parse
        failure), ``TRUNCATED_FILE`` (shorter than its PixelData length says),
        ``DICOMDIR`` (an index file, not an image).
    """
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # FIFOs, sockets, devices: never open (could block)
            raise InputError(f"{path}: not a regular file", code="NOT_DICOM")
        size = st.st_size
        with open(path, "rb") as fp:
            # Parse from an in-memory copy of the file's head (pydicom makes ~3 calls per
            # element on its stream; on a file object each is a C call plus, for tell(),
            # often a system call). Accepted when the head holds the whole file or the parse
            # stopped at the PixelData element inside it; otherwise the file is parsed.
            head = fp.read(_HEAD_BYTES)
            whole = len(head) >= size
            ds = None
            buf = io.BytesIO(head)
            try:
                ds = _parse_header(buf, path)
                tell = buf.tell()
            except Exception:  # noqa: BLE001 - decided below from the file itself
                if whole:
                    raise
            if ds is not None and not whole and head[tell : tell + 4] not in _PIXEL_TAGS:
                ds = None
            if ds is None:
                fp.seek(0)
                ds = _parse_header(fp, path)
                tell = fp.tell()
            else:
                _bind_to_file(ds, path, st)
            meta = getattr(ds, "file_meta", None)
            ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
            if not ts:
                ts = "1.2.840.10008.1.2"  # raw dataset without meta: implicit VR LE
            offset = length = None
            encapsulated_complete = True
            if ts in _NATIVE_SYNTAXES and tell < size:
                offset, length = _pixel_location(
                    fp, tell, size, explicit_vr=(ts == "1.2.840.10008.1.2.1")
                )
            elif tell < size and ts not in _NATIVE_SYNTAXES and ts != _DEFLATED:
                encapsulated_complete = (
                    _SEQ_DELIMITER in head[-_TAIL_BYTES:]
                    if whole
                    else _has_sequence_delimiter(fp, size)
                )
    except InputError:
        raise
    except OSError as exc:
        raise InputError(
            f"{path}: cannot be read ({exc.strerror or exc})", code="UNREADABLE_FILE"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on damaged files
        raise InputError(
            f"{path}: DICOM header cannot be parsed ({type(exc).__name__}: {exc})",
            code="UNREADABLE_FILE",
        ) from exc
    sop_class = (
        str(getattr(meta, "MediaStorageSOPClassUID", "") or ds.get("SOPClassUID", ""))
        if meta is not None
        else str(ds.get("SOPClassUID", ""))
    )
    if sop_class == _DICOMDIR_SOP or "DirectoryRecordSequence" in ds:
        raise InputError(f"{path}: DICOMDIR index file (not an image)", code="DICOMDIR")
    if tell >= size and ts != _DEFLATED and _SOP_KIND.get(sop_class) in ("PT", "CT"):
        raise InputError(
            f"{path}: truncated file: an image without PixelData (7FE0,0010)", code="TRUNCATED_FILE"
        )
    if not encapsulated_complete:
        raise InputError(
            f"{path}: truncated file: the compressed PixelData has no end (sequence delimiter missing)",
            code="TRUNCATED_FILE",
        )
    if offset is not None and length is not None and offset + length > size:
        raise InputError(
            f"{path}: truncated file: PixelData says {length} bytes but only {max(size - offset, 0)} are present",
            code="TRUNCATED_FILE",
        )
    # (deflated files are parsed from an inflated copy: file offsets do not apply)
    element_offset = tell if tell < size and ts != _DEFLATED else None
    return InstanceHeader(path, ds, ts, offset, length, element_offset)


def _string(ds: Any, keyword: str) -> str:
    try:
        v = ds.get(keyword)
    except Exception:  # noqa: BLE001 - malformed value: treat as absent
        return ""
    return "" if v is None else str(v)


def _multi(ds: Any, keyword: str) -> tuple[str, ...]:
    try:
        v = ds.get(keyword)
    except Exception:  # noqa: BLE001 - malformed value: treat as absent
        return ()
    if v is None or v == "":
        return ()
    if isinstance(v, str):
        return tuple(p.strip().upper() for p in v.split("\\") if p.strip())
    return tuple(str(p).strip().upper() for p in v)


def discover(
    path: str | os.PathLike[str],
    *,
    max_workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Discovery:
    """Walk a folder tree (or one file) and group the DICOM files by series.

    Parameters
    ----------
    path : path
        A folder (walked recursively; DICOMDIR files are ignored, file names and
        extensions do not matter) or one file.
    max_workers : int, optional
        Threads used to read headers. Default 1 (serial): header parsing is pure
        Python and holds the GIL, so threads only add lock hand-offs (measured:
        twice the CPU time on 2 cores for an in-cache folder). More threads can
        help on slow network file systems.
    progress : callable, optional
        Called as ``progress(files_done, files_total)`` while headers are read
        (the CLI draws a progress bar with it). No-op by default.

    Returns
    -------
    Discovery
        ``series`` sorted by (StudyInstanceUID, SeriesNumber, SeriesInstanceUID);
        ``problems`` lists every file that could not be used, with the reason.

    Raises
    ------
    InputError
        ``PATH_NOT_FOUND`` when ``path`` does not exist.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder", code="PATH_NOT_FOUND")
    files = list(_iter_files(root))

    def one(p: Path) -> InstanceHeader | FileProblem | None:
        try:
            return read_instance_header(p)
        except InputError as exc:
            if exc.code == "DICOMDIR":
                return None
            return FileProblem(p, exc.message.removeprefix(f"{p}: "), exc.code)

    with _gc_paused():
        return _discover_files(root, files, one, max_workers, progress)


def _discover_files(
    root: Path,
    files: list[Path],
    one: Callable[[Path], InstanceHeader | FileProblem | None],
    max_workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> Discovery:
    problems: list[FileProblem] = []
    headers: list[InstanceHeader] = []
    total = len(files)
    results: list[InstanceHeader | FileProblem | None] = []
    if total > 16 and max_workers is not None and max_workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            for r in pool.map(one, files):
                results.append(r)
                if progress is not None and (len(results) % 64 == 0 or len(results) == total):
                    progress(len(results), total)
    else:
        for p in files:
            results.append(one(p))
            if progress is not None and (len(results) % 64 == 0 or len(results) == total):
                progress(len(results), total)
        if progress is not None and total == 0:
            progress(0, 0)
    for r in results:
        if isinstance(r, FileProblem):
            problems.append(r)
        elif r is not None:
            headers.append(r)

    groups: dict[str, list[InstanceHeader]] = {}
    for h in headers:
        uid = fast_text(h.dataset, "SeriesInstanceUID")
        if not uid:
            problems.append(
                FileProblem(
                    h.path,
                    "DICOM file without SeriesInstanceUID (0020,000E); ignored",
                    "NO_SERIES_UID",
                )
            )
            continue
        groups.setdefault(uid, []).append(h)

    series = [_series_info(uid, hs) for uid, hs in groups.items()]
    series.sort(
        key=lambda s: (
            s.study_instance_uid,
            s.series_number if s.series_number is not None else 1 << 30,
            s.series_instance_uid,
        )
    )
    for prob in problems:
        logger.info("skipped %s: %s", prob.path, prob.reason)
    return Discovery(root=root, series=series, problems=problems, n_files=len(files))


def _series_info(uid: str, hs: list[InstanceHeader]) -> SeriesInfo:
    ds = hs[0].dataset
    modality = _string(ds, "Modality")
    sop_class = _string(ds, "SOPClassUID")
    kind = classify_series(modality, sop_class)
    corrected = _multi(ds, "CorrectedImage")
    units = _string(ds, "Units") or None
    if kind == "CT":
        units = "HU"
    try:
        number = int(ds.get("SeriesNumber")) if ds.get("SeriesNumber") not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return SeriesInfo(
        series_instance_uid=uid,
        study_instance_uid=_string(ds, "StudyInstanceUID"),
        modality=modality,
        kind=kind,
        files=[h.path for h in hs],
        series_description=_string(ds, "SeriesDescription"),
        frame_of_reference_uid=_string(ds, "FrameOfReferenceUID") or None,
        units=units,
        corrected_image=corrected,
        is_attenuation_corrected="ATTN" in corrected,
        n_instances=len(hs),
        instances=hs,
        series_number=number,
        image_type=_multi(ds, "ImageType"),
        sop_class_uid=sop_class,
    )
