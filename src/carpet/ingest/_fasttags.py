"""Fast reads of a few small header values (private helpers of :mod:`carpet.ingest`).

Reading a few numbers from thousands of headers through pydicom's value conversion
(with its validation) costs more than the pixel I/O; these read the raw bytes of the
elements that geometry and rescaling need, and fall back to pydicom's value when the
element was already converted. Other code converting the same element later is unaffected.
"""

from __future__ import annotations

from typing import Any

_TAGS = {
    "ImagePositionPatient": 0x00200032,
    "ImageOrientationPatient": 0x00200037,
    "PixelSpacing": 0x00280030,
    "RescaleSlope": 0x00281053,
    "RescaleIntercept": 0x00281052,
    "InstanceNumber": 0x00200013,
    "NumberOfFrames": 0x00280008,
    "SOPInstanceUID": 0x00080018,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "BitsAllocated": 0x00280100,
    "BitsStored": 0x00280101,
    "PixelRepresentation": 0x00280103,
    "SamplesPerPixel": 0x00280002,
    "SeriesInstanceUID": 0x0020000E,
}
MALFORMED = object()


def element(ds: Any, keyword: str) -> Any:
    """The (raw or converted) element, None when absent.

    Looks the plain integer tag up in the dataset's element dict (pydicom keys it by
    ``BaseTag``, an ``int``), which avoids building a ``Tag`` per lookup; falls back to
    the public ``get_item`` if that dict is not there.
    """
    elements = getattr(ds, "_dict", None)
    if isinstance(elements, dict):
        return elements.get(_TAGS[keyword])
    return ds.get_item(_TAGS[keyword])


def fast_numbers(ds: Any, keyword: str) -> Any:
    """DS/IS values as a list of float; None when absent/empty; MALFORMED when unparsable."""
    elem = element(ds, keyword)
    if elem is None:
        return None
    v = elem.value
    if isinstance(v, (bytes, bytearray)):
        text = bytes(v).decode("latin-1").strip(" \x00")
        if not text:
            return None
        try:
            return [float(x) for x in text.split("\\")]
        except ValueError:
            return MALFORMED
    v = ds[_TAGS[keyword]].value  # already converted (or deferred): pydicom's value
    if v is None or v == "":
        return None
    try:
        items = [v] if isinstance(v, (str, bytes, int, float)) else list(v)
        return [float(x) for x in items]
    except (TypeError, ValueError):
        return MALFORMED


def fast_number(ds: Any, keyword: str, default: float | None) -> float | None:
    vals = fast_numbers(ds, keyword)
    if vals is None or vals is MALFORMED or not vals:
        return default
    return vals[0]


def fast_us(ds: Any, keyword: str, default: int | None) -> int | None:
    """An unsigned-short (US) value; ``default`` when absent or malformed."""
    elem = element(ds, keyword)
    if elem is None:
        return default
    v = elem.value
    if isinstance(v, (bytes, bytearray)):
        if len(v) < 2:
            return default
        return int.from_bytes(
            bytes(v[:2]), "little" if getattr(elem, "is_little_endian", True) else "big"
        )
    try:
        return int(ds[_TAGS[keyword]].value)
    except (TypeError, ValueError):
        return default


def fast_text(ds: Any, keyword: str) -> str:
    elem = element(ds, keyword)
    if elem is None:
        return ""
    v = elem.value
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("latin-1").strip(" \x00")
    v = ds[_TAGS[keyword]].value
    return "" if v is None else str(v)
