"""Warm-up imported by the local pool's forkserver: one tiny analysis, so workers start warm.

The pipeline imports much of its machinery lazily (segmentation, measurement, NIfTI and
MIP writers, DICOM decoders), which costs seconds in every fresh worker. The forkserver
imports this module once; the workers forked from it inherit everything already loaded.
Any failure here is ignored (workers then simply start cold).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


def warm_up() -> bool:
    """Run read → analyze → write on a tiny synthetic study; True when it worked."""
    try:
        from carpet.ingest import read_pet
        from carpet.pipeline import analyze, write_analysis
        from carpet.synthetic import make_whole_body_study, write_pet_dicom

        study = make_whole_body_study(
            fov="head_neck", spacing_mm=(8.0, 8.0, 8.0), n_lesions=1, seed=0, with_ct=False
        )
        with tempfile.TemporaryDirectory(prefix="carpet-warmup-") as tmp:
            write_pet_dicom(study, Path(tmp) / "pt")
            write_analysis(analyze(read_pet(Path(tmp) / "pt")), Path(tmp) / "out")
    except Exception as exc:  # noqa: BLE001 - warm-up is an optimisation only
        logger.debug("batch worker warm-up failed: %s", exc)
        return False
    return True


warm_up()
