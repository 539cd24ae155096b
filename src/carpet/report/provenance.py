"""Provenance of report outputs: software versions and input hashes."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["software_versions"]

_PACKAGES = (
    "carpet",
    "numpy",
    "scipy",
    "pandas",
    "lifelines",
    "scikit-learn",
    "matplotlib",
    "openpyxl",
)


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages the cohort statistics depend on.

    Examples
    --------
    >>> "lifelines" in software_versions()
    True
    """
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "carpet":
                from carpet._version import __version__

                out[name] = __version__
            else:
                out[name] = "not installed"
    return out
