"""Writing outputs other tools read: DICOM SEG (:mod:`~carpet.export.seg`), RTSTRUCT
(:mod:`~carpet.export.rtstruct`), TID 1500 SR (:mod:`~carpet.export.sr`) and figures
(:mod:`~carpet.export.mip`). Import the submodule you need (they pull in highdicom /
matplotlib lazily)."""
