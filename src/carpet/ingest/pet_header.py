"""Read the SUV-relevant header facts of one PET series into a :class:`PetAcquisition`.

Tolerant reading: a missing or malformed attribute never raises here. Missing
attributes become ``None``; malformed ones become ``None`` *and* are listed in
``PetAcquisition.header_problems``; series-level attributes that differ between
instances are listed in ``PetAcquisition.inconsistencies``. The SUV step
(:func:`carpet.suv.compute_suv_factors`) refuses with a coded error when it
needs one of them.

Private attributes are looked up by their private creator, never by a fixed
element number alone:

* GE ``GEMS_PETD_01`` (group 0009): element xx0D = PET scan datetime (the time
  GE decay-corrects to), xx3B = administration datetime (QC only).
* Philips ``Philips PET Private Group`` (group 7053): element xx00 = SUV Scale
  Factor, xx09 = Activity Concentration Scale Factor. When the creator is
  absent (some anonymisers drop it) the conventional tags (7053,1000) and
  (7053,1009) are used.

Enhanced (multi-frame) PET images are read frame by frame from the per-frame and
shared functional groups (FrameContentSequence, PixelValueTransformationSequence).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from carpet.core.acquisition import InstanceRecord, PetAcquisition

__all__ = ["read_pet_acquisition", "parse_da", "parse_tm", "parse_dt"]

GE_PET_CREATOR = "GEMS_PETD_01"
PHILIPS_PET_CREATOR = "Philips PET Private Group"

#: Series-level attributes that must agree between the instances of a series.
_SERIES_LEVEL = (
    ("Units", "(0054,1001)"),
    ("SUVType", "(0054,1006)"),
    ("DecayCorrection", "(0054,1102)"),
    ("CorrectedImage", "(0028,0051)"),
    ("PatientWeight", "(0010,1030)"),
    ("PatientSize", "(0010,1020)"),
    ("PatientSex", "(0010,0040)"),
    ("SeriesDate", "(0008,0021)"),
    ("SeriesTime", "(0008,0031)"),
    ("RadionuclideTotalDose", "(0018,1074)"),
    ("RadionuclideHalfLife", "(0018,1075)"),
    ("RadiopharmaceuticalStartTime", "(0018,1072)"),
    ("RadiopharmaceuticalStartDateTime", "(0018,1078)"),
    ("SeriesInstanceUID", "(0020,000E)"),
)


# ----------------------------------------------------------------------------- value parsing
def _text(value: Any) -> str | None:
    """A raw element value as a stripped string (bytes decoded), or ``None`` if empty."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1", errors="replace")
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    s = str(value).replace("\x00", "").strip()
    return s or None


#: Years accepted in DA/DT values (anything else is recorded as malformed).
_YEARS = (1850, 2300)


def parse_da(value: Any) -> date | None:
    """Parse a DICOM DA (``YYYYMMDD``, also the old ``YYYY.MM.DD``); ``None`` if invalid.

    Examples
    --------
    >>> parse_da("20250102"), parse_da("2025.01.02"), parse_da("2025"), parse_da(""), parse_da("00010101")
    (datetime.date(2025, 1, 2), datetime.date(2025, 1, 2), None, None, None)
    """
    s = _text(value)
    if s is None:
        return None
    s = s.replace(".", "").replace("-", "")
    if len(s) != 8 or not s.isdigit():
        return None
    if (
        not _YEARS[0] <= int(s[:4]) <= _YEARS[1]
    ):  # e.g. 00010101: garbage, and date arithmetic overflows
        return None
    try:
        return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return None


_TM_RE = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")


def parse_tm(value: Any) -> time | None:
    """Parse a DICOM TM (``HH``, ``HHMM``, ``HHMMSS``, ``HHMMSS.ffffff``; colons tolerated).

    Examples
    --------
    >>> parse_tm("093000.5"), parse_tm("09:30"), parse_tm("2561"), parse_tm(None)
    (datetime.time(9, 30, 0, 500000), datetime.time(9, 30), None, None)
    """
    s = _text(value)
    if s is None:
        return None
    m = _TM_RE.match(s)
    if not m:
        return None
    hh, mm, ss, frac = m.groups()
    try:
        sec = int(ss or 0)
        if sec == 60:  # leap second tolerated as :59
            sec = 59
        micro = int((frac or "0").ljust(6, "0"))
        return time(int(hh), int(mm or 0), sec, micro)
    except ValueError:
        return None


_DT_RE = re.compile(r"^(\d{8})(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?$")


def parse_dt(value: Any) -> datetime | None:
    """Parse a DICOM DT (``YYYYMMDDHHMMSS.ffffff&ZZXX``) to a naive datetime.

    A UTC offset suffix is dropped (all times of one series share it).

    Examples
    --------
    >>> parse_dt("20250101100000.000000"), parse_dt("202501011000+0100")
    (datetime.datetime(2025, 1, 1, 10, 0), datetime.datetime(2025, 1, 1, 10, 0))
    >>> parse_dt("20250101") is None, parse_dt("garbage") is None
    (False, True)
    """
    s = _text(value)
    if s is None:
        return None
    m = _DT_RE.match(s)
    if not m:
        return None
    d = parse_da(m.group(1))
    if d is None:
        return None
    t = parse_tm(m.group(2)) if m.group(2) else time(0)
    if t is None:
        return None
    return datetime.combine(d, t)


# ----------------------------------------------------------------------------- reading helpers
#: VRs whose values are plain ASCII text: read from the raw bytes without pydicom's conversion.
_ASCII_VRS = frozenset({"AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_KEYWORD_TAGS: dict[str, tuple[int, str] | None] = {}


def _tag_vr(keyword: str) -> tuple[int, str] | None:
    """(tag, dictionary VR) of a public keyword, cached; None if unknown."""
    try:
        return _KEYWORD_TAGS[keyword]
    except KeyError:
        pass
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    out = (int(tag), dictionary_VR(tag)) if tag is not None else None
    _KEYWORD_TAGS[keyword] = out
    return out


_ABSENT = object()


def _raw_ascii(ds: Any, keyword: str) -> Any:
    """The decoded text of a still-raw ASCII-VR element, None when absent, else ``_ABSENT``.

    ``_ABSENT`` means "ask pydicom" (converted element, non-ASCII VR, not a pydicom
    dataset). Reading thousands of headers through pydicom's value conversion and
    validation costs more than the pixel I/O of the series; the callers only ever need
    the text of these values (:func:`_text`, :meth:`_Reader.to_float`, the DA/TM/DT
    parsers), which is exactly what the raw bytes hold.
    """
    elements = getattr(ds, "_dict", None)
    if type(elements) is not dict:
        return _ABSENT
    tv = _tag_vr(keyword)
    if tv is None or tv[1] not in _ASCII_VRS:
        return _ABSENT
    el = elements.get(tv[0])
    if el is None:
        return None
    if type(el).__name__ != "RawDataElement" or el.VR not in (None, tv[1]):
        return _ABSENT
    v = el.value
    if not isinstance(v, bytes):
        return _ABSENT
    return v.decode("latin-1")


class _Reader:
    """Collects header problems while reading attributes tolerantly."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def raw(self, ds: Any, keyword: str) -> Any:
        fast = _raw_ascii(ds, keyword)
        if fast is not _ABSENT:
            return fast
        try:
            el = ds[keyword] if keyword in ds else None
        except Exception as exc:  # noqa: BLE001 - malformed element must not escape
            self.problems.append(f"{keyword}: unreadable ({type(exc).__name__}: {exc})")
            return None
        if el is None:
            return None
        try:
            return el.value
        except Exception as exc:  # noqa: BLE001
            self.problems.append(f"{keyword}: unreadable value ({type(exc).__name__}: {exc})")
            return None

    def number(self, ds: Any, keyword: str, tag: str) -> float | None:
        return self.to_float(self.raw(ds, keyword), f"{keyword} {tag}")

    def to_float(self, value: Any, label: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            if len(value) == 0:
                return None
            value = value[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            f = float(value)
        else:
            s = _text(value)
            if s is None:
                return None
            try:
                f = float(s.split("\\")[0])
            except ValueError:
                self.problems.append(f"{label}: {s!r} is not a number")
                return None
        if not math.isfinite(f):
            self.problems.append(f"{label}: {f!r} is not finite")
            return None
        return f

    def string(self, ds: Any, keyword: str) -> str | None:
        s = _text(self.raw(ds, keyword))
        return s.upper() if s is not None else None

    def codes(self, ds: Any, keyword: str) -> tuple[str, ...]:
        s = _text(self.raw(ds, keyword))
        if s is None:
            return ()
        return tuple(p.strip().upper() for p in s.split("\\") if p.strip())

    def when(self, ds: Any, keyword: str, tag: str, parser: Any) -> Any:
        raw = self.raw(ds, keyword)
        if _text(raw) is None:
            return None
        v = parser(raw)
        if v is None:
            self.problems.append(f"{keyword} {tag}: {_text(raw)!r} is not a valid DICOM value")
        return v

    def seq_item(self, ds: Any, keyword: str) -> Any:
        seq = self.raw(ds, keyword)
        try:
            return seq[0] if seq is not None and len(seq) > 0 else None
        except Exception:  # noqa: BLE001
            self.problems.append(f"{keyword}: not a readable sequence")
            return None

    def private(self, ds: Any, group: int, creator: str, elem: int, fallback: int | None) -> Any:
        """Value of a private element by creator, else the conventional tag ``fallback``."""
        try:
            # Scan the private creator elements (gggg,0010-00FF) directly; pydicom's
            # private_block() slices the dataset and is ~50x slower per call.
            for tag in ds.keys():
                if tag >> 16 != group or not 0x10 <= (tag & 0xFFFF) <= 0xFF:
                    continue
                if _text(ds[tag].value) == creator:
                    data_tag = (group << 16) | ((tag & 0xFF) << 8) | elem
                    if data_tag in ds:
                        return ds[data_tag].value
        except Exception as exc:  # noqa: BLE001
            self.problems.append(f"private ({group:04X},{creator}): unreadable ({exc})")
        if fallback is not None:
            try:
                if fallback in ds:
                    return ds[fallback].value
            except Exception as exc:  # noqa: BLE001
                self.problems.append(f"private tag {fallback:08X}: unreadable ({exc})")
        return None


def _sex(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.strip().upper()
    return s if s in ("M", "F", "O") else None


# ----------------------------------------------------------------------------- main reader
def read_pet_acquisition(datasets: Iterable[Any], *, source: str | None = None) -> PetAcquisition:
    """Read the SUV header facts of one PET series.

    Parameters
    ----------
    datasets : iterable of pydicom.Dataset
        The headers of the instances of one series, in any order (pixel data may
        be absent, e.g. read with ``stop_before_pixels=True``). One enhanced
        multi-frame dataset gives one record per frame.
    source : str, optional
        Folder or file the headers came from; used in messages.

    Returns
    -------
    PetAcquisition
        Attributes as stored (see :class:`~carpet.core.acquisition.PetAcquisition`);
        never raises for missing or malformed attributes.

    Notes
    -----
    Series-level attributes are taken from the first dataset; every other dataset
    is compared with it and differences are listed in ``inconsistencies``.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.Units, ds.PatientWeight, ds.SOPInstanceUID = "BQML", "70", "1.2.3"
    >>> acq = read_pet_acquisition([ds], source="mem")
    >>> acq.units, acq.patient_weight, acq.radionuclide_total_dose
    ('BQML', 70.0, None)
    >>> ds2 = Dataset()
    >>> ds2.Units, ds2.PatientWeight, ds2.SOPInstanceUID = "CNTS", "70.0", "1.2.4"
    >>> read_pet_acquisition([ds, ds2]).inconsistencies
    ("Units (0054,1001): ['BQML', 'CNTS']",)
    """
    dss = list(datasets)
    rd = _Reader()
    if not dss:
        return PetAcquisition(source=source, header_problems=("no datasets given",))
    first = dss[0]

    rp = rd.seq_item(first, "RadiopharmaceuticalInformationSequence")
    code_item = rd.seq_item(rp, "RadionuclideCodeSequence") if rp is not None else None

    def rp_number(keyword: str, tag: str) -> float | None:
        return rd.number(rp, keyword, tag) if rp is not None else None

    corrected = rd.codes(first, "CorrectedImage")
    if not corrected:  # Enhanced PET: flags instead of CorrectedImage
        flags = []
        if rd.string(first, "AttenuationCorrected") == "YES":
            flags.append("ATTN")
        if rd.string(first, "DecayCorrected") == "YES":
            flags.append("DECY")
        corrected = tuple(flags)

    ge_scan = rd.private(first, 0x0009, GE_PET_CREATOR, 0x0D, None)
    ge_admin = rd.private(first, 0x0009, GE_PET_CREATOR, 0x3B, None)

    def dt_or_problem(raw: Any, label: str) -> datetime | None:
        if _text(raw) is None:
            return None
        v = parse_dt(raw)
        if v is None:
            rd.problems.append(f"{label}: {_text(raw)!r} is not a valid DICOM DT")
        return v

    study_date = rd.when(first, "StudyDate", "(0008,0020)", parse_da)
    records: list[InstanceRecord] = []
    for ds in dss:
        records.extend(_instance_records(ds, rd, study_date))
    records.sort(
        key=lambda r: (
            r.acquisition_datetime is None,
            r.acquisition_datetime or datetime.min,
            r.sop_instance_uid or "",
        )
    )

    acq = PetAcquisition(
        series_instance_uid=_text(rd.raw(first, "SeriesInstanceUID")),
        source=source,
        manufacturer=_text(rd.raw(first, "Manufacturer")),
        modality=rd.string(first, "Modality"),
        units=rd.string(first, "Units"),
        suv_type=rd.string(first, "SUVType"),
        decay_correction=rd.string(first, "DecayCorrection"),
        corrected_image=corrected,
        radionuclide_total_dose=rp_number("RadionuclideTotalDose", "(0018,1074)"),
        radionuclide_half_life_s=rp_number("RadionuclideHalfLife", "(0018,1075)"),
        radionuclide_code=_text(rd.raw(code_item, "CodeValue")) if code_item is not None else None,
        radionuclide_code_meaning=(
            _text(rd.raw(code_item, "CodeMeaning")) if code_item is not None else None
        ),
        radiopharmaceutical=_text(rd.raw(rp, "Radiopharmaceutical")) if rp is not None else None,
        radiopharmaceutical_start_datetime=(
            rd.when(rp, "RadiopharmaceuticalStartDateTime", "(0018,1078)", parse_dt)
            if rp is not None
            else None
        ),
        radiopharmaceutical_start_time=(
            rd.when(rp, "RadiopharmaceuticalStartTime", "(0018,1072)", parse_tm)
            if rp is not None
            else None
        ),
        series_date=rd.when(first, "SeriesDate", "(0008,0021)", parse_da),
        series_time=rd.when(first, "SeriesTime", "(0008,0031)", parse_tm),
        study_date=study_date,
        decay_correction_datetime=rd.when(
            first, "DecayCorrectionDateTime", "(0018,9701)", parse_dt
        ),
        ge_private_scan_datetime=dt_or_problem(ge_scan, f"GE private (0009,xx0D) {GE_PET_CREATOR}"),
        ge_private_admin_datetime=dt_or_problem(
            ge_admin, f"GE private (0009,xx3B) {GE_PET_CREATOR}"
        ),
        patient_weight=rd.number(first, "PatientWeight", "(0010,1030)"),
        patient_size=rd.number(first, "PatientSize", "(0010,1020)"),
        patient_sex=_sex(rd.string(first, "PatientSex")),
        instances=tuple(records),
        inconsistencies=_inconsistencies(dss),
        header_problems=tuple(dict.fromkeys(rd.problems)),
    )
    return acq


def _instance_records(ds: Any, rd: _Reader, study_date: date | None) -> list[InstanceRecord]:
    sop = _text(rd.raw(ds, "SOPInstanceUID"))
    acq_date = rd.when(ds, "AcquisitionDate", "(0008,0022)", parse_da)
    acq_time = rd.when(ds, "AcquisitionTime", "(0008,0032)", parse_tm)
    acq_dt = rd.when(ds, "AcquisitionDateTime", "(0008,002A)", parse_dt)
    if acq_date is not None and acq_time is not None:
        acq_dt = datetime.combine(acq_date, acq_time)
    suv_f = rd.to_float(
        rd.private(ds, 0x7053, PHILIPS_PET_CREATOR, 0x00, 0x70531000),
        "Philips SUV scale factor (7053,1000)",
    )
    acsf = rd.to_float(
        rd.private(ds, 0x7053, PHILIPS_PET_CREATOR, 0x09, 0x70531009),
        "Philips activity concentration scale factor (7053,1009)",
    )
    common = dict(
        frame_duration_ms=rd.number(ds, "ActualFrameDuration", "(0018,1242)"),
        frame_reference_time_ms=rd.number(ds, "FrameReferenceTime", "(0054,1300)"),
        decay_factor=rd.number(ds, "DecayFactor", "(0054,1321)"),
        philips_suv_scale_factor=suv_f,
        philips_activity_concentration_scale_factor=acsf,
    )
    per_frame = rd.raw(ds, "PerFrameFunctionalGroupsSequence")
    if not per_frame:
        return [
            InstanceRecord(
                sop_instance_uid=sop,
                acquisition_datetime=acq_dt,
                acquisition_time_only=acq_time if acq_dt is None else None,
                rescale_slope=rd.number(ds, "RescaleSlope", "(0028,1053)"),
                rescale_intercept=rd.number(ds, "RescaleIntercept", "(0028,1052)"),
                **common,
            )
        ]
    # Enhanced multi-frame: per-frame groups override shared groups.
    shared = rd.seq_item(ds, "SharedFunctionalGroupsSequence")
    out = []
    try:
        frames = list(per_frame)
    except Exception:  # noqa: BLE001
        rd.problems.append("PerFrameFunctionalGroupsSequence: not a readable sequence")
        frames = []
    for n, fg in enumerate(frames, start=1):

        def group(keyword: str, fg: Any = fg) -> Any:
            item = rd.seq_item(fg, keyword)
            if item is None and shared is not None:
                item = rd.seq_item(shared, keyword)
            return item

        content = group("FrameContentSequence")
        pvt = group("PixelValueTransformationSequence")
        f_dt = (
            rd.when(content, "FrameAcquisitionDateTime", "(0018,9074)", parse_dt)
            if content
            else None
        )
        f_dur = rd.number(content, "FrameAcquisitionDuration", "(0018,9220)") if content else None
        # FrameReferenceDateTime (0018,9151) is absolute, not an offset from the series
        # reference like FrameReferenceTime (0054,1300): it is not mapped onto the latter.
        ref_ms = common["frame_reference_time_ms"]
        out.append(
            InstanceRecord(
                sop_instance_uid=f"{sop}#{n}",
                acquisition_datetime=f_dt or acq_dt,
                frame_duration_ms=f_dur if f_dur is not None else common["frame_duration_ms"],
                frame_reference_time_ms=ref_ms,
                decay_factor=common["decay_factor"],
                rescale_slope=rd.number(pvt, "RescaleSlope", "(0028,1053)") if pvt else None,
                rescale_intercept=rd.number(pvt, "RescaleIntercept", "(0028,1052)")
                if pvt
                else None,
                philips_suv_scale_factor=suv_f,
                philips_activity_concentration_scale_factor=acsf,
            )
        )
    return out


_NUMERIC_SERIES_LEVEL = (
    "PatientWeight",
    "PatientSize",
    "RadionuclideTotalDose",
    "RadionuclideHalfLife",
)


def _series_value(holder: Any, keyword: str) -> Any:
    """Normalised comparable value of a series-level attribute (silent; for comparison)."""
    if holder is None:
        return None
    try:
        raw = holder.get(keyword)
    except Exception:  # noqa: BLE001
        return "<unreadable>"
    s = _text(raw)
    if s is None:
        return None
    if keyword in _NUMERIC_SERIES_LEVEL:
        try:
            return float(s.split("\\")[0])
        except ValueError:
            return s
    return s.upper()


_SIGNATURE_KEYWORDS = tuple(kw for kw, _ in _SERIES_LEVEL if not kw.startswith("Radio")) + (
    "RadiopharmaceuticalInformationSequence",
)


def _raw_signature(ds: Any) -> tuple | None:
    """The raw bytes of the series-level elements of ``ds``; None unless all are still raw."""
    elements = getattr(ds, "_dict", None)
    if type(elements) is not dict:
        return None
    sig = []
    for kw in _SIGNATURE_KEYWORDS:
        tv = _tag_vr(kw)
        el = elements.get(tv[0]) if tv is not None else None
        if el is None:
            sig.append(None)
            continue
        if type(el).__name__ != "RawDataElement" or not isinstance(el.value, bytes):
            return None
        sig.append((el.VR, el.value, el.is_little_endian, el.is_implicit_VR))
    return tuple(sig)


def _inconsistencies(dss: list[Any]) -> tuple[str, ...]:
    if len(dss) < 2:
        return ()
    rows = []
    # Instances whose series-level elements are byte-identical (still raw, same encoding)
    # have identical normalised values: compute those once per distinct signature.
    by_signature: dict[tuple, list] = {}
    for ds in dss:
        sig = _raw_signature(ds)
        row = by_signature.get(sig) if sig is not None else None
        if row is None:
            try:
                seq = ds.get("RadiopharmaceuticalInformationSequence")
                rp = seq[0] if seq else None
            except Exception:  # noqa: BLE001
                rp = None
            row = [
                _series_value(rp if kw.startswith("Radio") else ds, kw) for kw, _ in _SERIES_LEVEL
            ]
            if sig is not None:
                by_signature[sig] = row
        rows.append(row)
    out = []
    for n, (keyword, tag) in enumerate(_SERIES_LEVEL):
        values = {row[n] for row in rows}
        if len(values) > 1:
            shown = sorted(("<absent>" if v is None else v for v in values), key=str)
            more = f" ... ({len(shown)} distinct values)" if len(shown) > 5 else ""
            out.append(f"{keyword} {tag}: {shown[:5]}{more}")
    return tuple(out)
