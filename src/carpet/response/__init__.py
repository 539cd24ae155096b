"""Response assessment across timepoints: registration, lesion matching, kinetics, proposals.

Pure modules (no file I/O): :mod:`~carpet.response.timepoints`,
:mod:`~carpet.response.registration`, :mod:`~carpet.response.matching`,
:mod:`~carpet.response.kinetics`, :mod:`~carpet.response.categories`,
:mod:`~carpet.response.compare`. :mod:`~carpet.response.workflow` reads studies and
writes the ``carpet response`` outputs.
"""

from carpet.response.categories import (
    deauville_proxy,
    lugano_proxy,
    lyric_candidates,
    propose_categories,
    qpet_score,
)
from carpet.response.compare import AnalysedTimepoint, PairComparison, compare_pair
from carpet.response.kinetics import compute_kinetics, kinetics_table
from carpet.response.matching import MATCH_COLUMNS, LesionMatching, match_lesions, residual_uptake
from carpet.response.registration import (
    Registration,
    identity_registration,
    register_rigid,
    register_studies,
)
from carpet.response.timepoints import ROLES, StudyIdentity, Timepoint, assign_roles

__all__ = [
    "MATCH_COLUMNS",
    "ROLES",
    "AnalysedTimepoint",
    "LesionMatching",
    "PairComparison",
    "Registration",
    "StudyIdentity",
    "Timepoint",
    "assign_roles",
    "compare_pair",
    "compute_kinetics",
    "deauville_proxy",
    "identity_registration",
    "kinetics_table",
    "lugano_proxy",
    "lyric_candidates",
    "match_lesions",
    "propose_categories",
    "qpet_score",
    "register_rigid",
    "register_studies",
    "residual_uptake",
]
