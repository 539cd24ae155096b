"""Exceptions and warnings of carpet.

Every error carries a stable machine-readable ``code`` (upper snake case) and a
message that says *what failed*, *for which object* (file, series UID, column),
*got vs expected* and, where there is one, *the remedy*. The CLI prints
``carpet: error [CODE] message`` and exits non-zero.

Tree::

    CarpetError                      (base; .code)
    ├── InputError(ValueError)       bad or unreadable input
    │   ├── DicomHeaderError         missing/contradictory tag (.tag, .series_uid, .path)
    │   ├── InconsistentSeriesError  slices that do not form one volume
    │   ├── GeometryMismatchError    two grids that should match do not (.grids)
    │   ├── NoPetSeriesError         nothing to analyse under a path
    │   └── TableValidationError     clinical/biomarker table problems (.problems)
    ├── SuvError(ValueError)         SUV conversion refused (codes mirror IBSI DRO errors)
    ├── SegmentationError
    ├── ConfigError(ValueError)      invalid parameter or config file
    ├── RemoteError                  DICOMweb/PACS communication failed
    └── MissingDependencyError(ImportError)

    CarpetWarning(UserWarning)
    ├── HeaderWarning                tolerated header quirk (recorded in provenance)
    ├── QualityWarning               plausibility/QC check failed (liver SUV range, ...)
    └── StatisticalWarning           statistical caveat (optimised cut-off, few events, ...)
"""

from __future__ import annotations

__all__ = [
    "CarpetError",
    "CarpetWarning",
    "ConfigError",
    "DicomHeaderError",
    "GeometryMismatchError",
    "HeaderWarning",
    "InconsistentSeriesError",
    "InputError",
    "MissingDependencyError",
    "NoPetSeriesError",
    "QualityWarning",
    "RemoteError",
    "SegmentationError",
    "StatisticalWarning",
    "SuvError",
    "TableValidationError",
]


class CarpetError(Exception):
    """Base class of every carpet error.

    Parameters
    ----------
    message : str
        Human-readable message (what, which object, got vs expected, remedy).
    code : str, optional
        Stable identifier, e.g. ``"MISSING_WEIGHT"``. Defaults to the class's
        ``default_code``.
    """

    default_code = "CARPET_ERROR"

    def __init__(self, message: str, *, code: str | None = None, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.context = context

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        """Return ``{"code", "message"}`` for JSON outputs."""
        return {"code": self.code, "message": self.message}


class InputError(CarpetError, ValueError):
    """An input file, folder or table is unreadable or not what was expected."""

    default_code = "INPUT_ERROR"


class DicomHeaderError(InputError):
    """A DICOM attribute is missing, malformed or contradictory."""

    default_code = "DICOM_HEADER"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        tag: str | None = None,
        series_uid: str | None = None,
        path: str | None = None,
        **context: object,
    ) -> None:
        super().__init__(message, code=code, **context)
        self.tag = tag
        self.series_uid = series_uid
        self.path = path


class InconsistentSeriesError(InputError):
    """The instances of a series do not form one regular volume."""

    default_code = "INCONSISTENT_SERIES"


class GeometryMismatchError(InputError):
    """Two grids that must match (PET and mask, PET and CT) do not."""

    default_code = "GEOMETRY_MISMATCH"


class NoPetSeriesError(InputError):
    """No usable PET series was found under a path."""

    default_code = "NO_PET_SERIES"


class TableValidationError(InputError):
    """A clinical or biomarker table failed validation.

    ``problems`` lists every problem found (row, column, value, reason), so the
    user can fix all of them at once.
    """

    default_code = "TABLE_INVALID"

    def __init__(self, message: str, *, problems: list | None = None, **kw: object) -> None:
        super().__init__(message, **kw)
        self.problems = list(problems or [])


class SuvError(CarpetError, ValueError):
    """SUV conversion was refused; ``code`` says why (see ``carpet.suv``)."""

    default_code = "SUV_ERROR"


class SegmentationError(CarpetError):
    """Segmentation could not be carried out as asked."""

    default_code = "SEGMENTATION_ERROR"


class ConfigError(CarpetError, ValueError):
    """A parameter or configuration value is invalid."""

    default_code = "CONFIG_ERROR"


class RemoteError(CarpetError):
    """A DICOMweb server or other remote peer failed or was unreachable."""

    default_code = "REMOTE_ERROR"


class MissingDependencyError(CarpetError, ImportError):
    """An optional dependency needed for a feature is not installed."""

    default_code = "MISSING_DEPENDENCY"


class CarpetWarning(UserWarning):
    """Base class of carpet's warnings."""


class HeaderWarning(CarpetWarning):
    """A tolerated header quirk; recorded in the provenance of the result."""


class QualityWarning(CarpetWarning):
    """A plausibility or quality-control check failed (the result is still produced)."""


class StatisticalWarning(CarpetWarning):
    """A statistical caveat the reader of a result must see."""
