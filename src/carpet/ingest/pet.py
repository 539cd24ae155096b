"""The high-level PET loader: a path → SUVbw volume + provenance (:class:`PetStudy`).

Used by ``carpet analyze``, batch, response and review. DICOM folders go through
discovery → :func:`~carpet.ingest.dicom.read_series_volume` → the SUV factors of
:mod:`carpet.suv` (applied in place: no second full-size array); NIfTI files
carry no SUV header and must be declared SUV already (``units="suv"``).
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from carpet.core.volume import Volume
from carpet.errors import ConfigError, InputError
from carpet.ingest.dicom import _volume_from_plan, read_series_volume, series_geometry
from carpet.ingest.discover import (
    SUV_CONVERTIBLE_UNITS,
    Discovery,
    SeriesInfo,
    _gc_paused,
    discover,
)
from carpet.ingest.nifti import is_nifti_path, read_nifti
from carpet.units import Unit

__all__ = ["PatientInfo", "PetStudy", "read_ct_for", "read_pet"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatientInfo:
    """Patient facts used for SUV (never name or ID).

    ``weight_kg``/``height_m``/``sex`` are the values the SUV step used (after
    unit plausibility fixes and overrides); ``age_years`` from PatientAge.
    """

    weight_kg: float | None = None
    height_m: float | None = None
    sex: str | None = None
    age_years: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "weight_kg": self.weight_kg,
            "height_m": self.height_m,
            "sex": self.sex,
            "age_years": self.age_years,
        }


@dataclass(frozen=True, eq=False)
class PetStudy:
    """A loaded PET study in SUVbw.

    Attributes
    ----------
    suv : Volume
        SUVbw (g/mL), float32, ``unit=Unit.SUV_BW``.
    series : SeriesInfo or None
        The PET series used (None for NIfTI input).
    acquisition : PetAcquisition or None
        Header facts (None for NIfTI input).
    suv_factors : SuvFactors or None
        Factors and their provenance (None for NIfTI input).
    patient : PatientInfo
    study_date : date or None
        StudyDate (or SeriesDate) of the PET series.
    warnings : tuple of str
        Geometry and SUV warnings (also in the provenance of outputs).
    source : str
        The path that was loaded.
    discovery : Discovery or None
        Everything found under the path (for the CT, file problems...).
    """

    suv: Volume
    series: SeriesInfo | None
    acquisition: Any
    suv_factors: Any
    patient: PatientInfo
    study_date: date | None
    warnings: tuple[str, ...]
    source: str
    discovery: Discovery | None = field(default=None, repr=False)

    @property
    def series_instance_uid(self) -> str | None:
        """SeriesInstanceUID of the PET series (None for NIfTI)."""
        return self.series.series_instance_uid if self.series is not None else None


def _age_years(value: Any) -> float | None:
    m = re.fullmatch(r"\s*(\d{1,3})([DWMY])\s*", str(value or ""))
    if not m:
        return None
    n, u = int(m.group(1)), m.group(2)
    return float(n) / {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}[u]


def _da(value: Any) -> date | None:
    s = str(value or "").strip()
    if re.fullmatch(r"\d{8}", s):
        try:
            return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
        except ValueError:
            return None
    return None


def read_pet(
    path: str | os.PathLike[str],
    *,
    series_uid: str | None = None,
    units: str | None = None,
    overrides: Any = None,
    lbm_formula: str = "janma",
) -> PetStudy:
    """Load a PET study as SUVbw.

    Parameters
    ----------
    path : path
        A DICOM folder (any layout) or file, or a NIfTI file (``.nii``/``.nii.gz``).
    series_uid : str, optional
        SeriesInstanceUID of the PET series; default: the attenuation-corrected
        PET series (:meth:`Discovery.pick_pet`).
    units : {"suv"}, optional
        For NIfTI input only: declares the image is already SUVbw (required,
        since NIfTI has no dose/weight header).
    overrides : carpet.suv.SuvOverrides, optional
        Weight/height/dose/injection-time/sex replacing the header's.
    lbm_formula : {"janma", "james128", "james120"}
        LBM formula for the SUL factor recorded in ``suv_factors``.

    Returns
    -------
    PetStudy

    Raises
    ------
    NoPetSeriesError
        No (attenuation-corrected) PET series under ``path``.
    InconsistentSeriesError, DicomHeaderError
        The series does not form one regular volume.
    SuvError
        SUV conversion refused (code says why).
    InputError
        ``NIFTI_UNITS_REQUIRED`` for NIfTI without ``units="suv"``.

    Examples
    --------
    >>> import tempfile
    >>> from carpet.synthetic import make_whole_body_study, write_pet_dicom
    >>> s = make_whole_body_study(fov="head_neck", spacing_mm=(10, 10, 10), n_lesions=0, with_ct=False)
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_pet_dicom(s, folder)
    >>> pet = read_pet(folder)
    >>> pet.suv.unit.value, round(float(pet.suv.array.max()), 2)
    ('SUVbw', 8.0)
    """
    path = Path(path)
    if units is not None and units.lower() not in ("suv", "suvbw"):
        raise ConfigError(
            f"units must be 'suv' (the image is already SUVbw) or omitted; got {units!r}",
            code="INVALID_PARAMETER",
        )
    if path.is_file() and is_nifti_path(path):
        if units is None:
            raise InputError(
                f"{path}: a NIfTI file has no dose, weight or timing header, so carpet cannot compute SUV from it. "
                "If the image is already SUVbw, say so with units='suv' (CLI: --units suv); otherwise load the "
                "DICOM series instead.",
                code="NIFTI_UNITS_REQUIRED",
            )
        vol = read_nifti(path, unit=Unit.SUV_BW)
        if vol.array.dtype != "float32":
            vol = vol.with_array(vol.array.astype("float32"))
        return PetStudy(vol, None, None, None, PatientInfo(), None, (), str(path), None)

    with _gc_paused():  # tens of thousands of header objects, no garbage cycles
        return _read_pet_dicom(path, series_uid, overrides, lbm_formula)


def _read_pet_dicom(
    path: Path, series_uid: str | None, overrides: Any, lbm_formula: str
) -> PetStudy:
    from carpet.ingest.pet_header import read_pet_acquisition
    from carpet.suv import apply_suv, compute_suv_factors

    disc = discover(path)
    series = disc.pick_pet(series_uid)
    geo = series_geometry(series)  # geometry errors first, from headers only
    ds0 = series.datasets[0]
    for keyword in ("Modality", "Units", "StudyInstanceUID", "FrameOfReferenceUID"):
        ds0.get(keyword)  # convert now: the pixel thread then only reads converted values
    # Pixels (file I/O and numpy, which release the GIL) are read in the background while
    # the SUV header facts (pure Python) are parsed here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pixels = pool.submit(
            _volume_from_plan, geo, series.instances, series.series_instance_uid, str(path)
        )
        try:
            acq = read_pet_acquisition(series.datasets, source=str(path))
            factors = compute_suv_factors(acq, overrides=overrides, lbm_formula=lbm_formula)
        except BaseException:
            pixels.cancel()
            raise
        vol = pixels.result()
    suv = apply_suv(vol, factors, normalization="bw", inplace=True)
    patient = PatientInfo(
        weight_kg=factors.weight_kg_used,
        height_m=factors.height_m_used,
        sex=factors.sex_used,
        age_years=_age_years(ds0.get("PatientAge")),
    )
    warn = tuple(vol.meta.get("warnings", [])) + tuple(factors.warnings)
    others = [
        x
        for x in disc.series
        if x.kind == "PT"
        and x.is_attenuation_corrected
        and (x.units or "").upper() in SUV_CONVERTIBLE_UNITS
        and x is not series
        and series_uid is None
    ]
    if others:
        warn += (
            f"{len(others) + 1} attenuation-corrected PET series under {path}; used "
            f"'{series.series_description}' ({series.n_instances} images, {series.series_instance_uid}). "
            "Give series_uid (CLI: --series-uid) to choose another: "
            + ", ".join(f"'{x.series_description}' {x.series_instance_uid}" for x in others),
        )
    warn += tuple(f"{p.path}: {p.reason}" for p in disc.problems)
    study_date = _da(ds0.get("StudyDate")) or _da(ds0.get("SeriesDate"))
    logger.info(
        "loaded PET %s: %s, SUVbw factor %.6g", series.series_instance_uid, suv, factors.bw_factor
    )
    return PetStudy(suv, series, acq, factors, patient, study_date, warn, str(path), disc)


def read_ct_for(pet: PetStudy) -> Volume | None:
    """The CT series of the same study as ``pet``, in HU on its own grid.

    Candidates are non-localizer CT series found under the same path, of the
    same StudyInstanceUID; one with the PET's FrameOfReferenceUID is preferred,
    then the one with most slices. Use :func:`carpet.ingest.resample_to` to put
    it on the PET grid.

    Returns
    -------
    Volume or None
        None when the path holds no such CT (or the PET came from NIfTI).
    """
    if pet.discovery is None or pet.series is None:
        return None
    cts = [
        s
        for s in pet.discovery.series
        if s.kind == "CT"
        and not s.is_localizer
        and s.study_instance_uid == pet.series.study_instance_uid
    ]
    if not cts:
        return None
    for_uid = pet.series.frame_of_reference_uid
    cts.sort(key=lambda s: (s.frame_of_reference_uid != for_uid, -s.n_instances))
    return read_series_volume(cts[0])
