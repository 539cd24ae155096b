"""DICOMweb (QIDO-RS / WADO-RS / STOW-RS) client: the network edge of carpet, like ``ingest``/``export``."""

from carpet.dicomweb.client import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    DicomwebSettings,
    PullResult,
    connect,
    fetch_study,
    parse_study_address,
    pull_study,
    push_files,
    resolve_settings,
    search_studies,
)

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "DicomwebSettings",
    "PullResult",
    "connect",
    "fetch_study",
    "parse_study_address",
    "pull_study",
    "push_files",
    "resolve_settings",
    "search_studies",
]
