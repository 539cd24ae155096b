"""Synthetic whole-body FDG PET/CT studies with exact truth, and a DICOM writer for them.

This is both the generator behind ``carpet demo`` and the phantom builder of the
test suite: :func:`make_whole_body_study` renders an analytic anatomy (organs,
lesions) on any grid and pose; :func:`write_pet_dicom` / :func:`write_ct_dicom`
write it as real Part-10 DICOM with a realistic, configurable header.
"""

from carpet.synthetic.dicom_writer import (
    CT_IMAGE_STORAGE,
    PET_IMAGE_STORAGE,
    PHILIPS_ACTIVITY_SCALE,
    PetHeaderSpec,
    write_ct_dicom,
    write_demo_study,
    write_pet_dicom,
    write_study_dicom,
)
from carpet.synthetic.phantom import (
    FOV_CHOICES,
    ORGAN_CT_HU,
    ORGAN_LABELS,
    ORGAN_SUV,
    POSE_CENTRE_MM,
    LesionSpec,
    PatientSpec,
    RigidPose,
    SyntheticLesion,
    SyntheticStudy,
    make_whole_body_study,
)

__all__ = [
    "CT_IMAGE_STORAGE",
    "FOV_CHOICES",
    "LesionSpec",
    "ORGAN_CT_HU",
    "ORGAN_LABELS",
    "ORGAN_SUV",
    "PET_IMAGE_STORAGE",
    "PHILIPS_ACTIVITY_SCALE",
    "POSE_CENTRE_MM",
    "PatientSpec",
    "PetHeaderSpec",
    "RigidPose",
    "SyntheticLesion",
    "SyntheticStudy",
    "make_whole_body_study",
    "write_ct_dicom",
    "write_demo_study",
    "write_pet_dicom",
    "write_study_dicom",
]
