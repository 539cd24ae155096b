"""Resumable batch analysis of whole archives (``carpet batch``).

Discovery streams the studies of an archive (or a manifest names them), a local process pool or
a Dask cluster analyses them with :func:`carpet.pipeline.analyze`, and the coordinator stores
every outcome in an embedded SQLite database, one transaction per study. Orchestrates the
pipeline; computes nothing itself.
"""

from carpet.batch.discover import DiscoveryProblem, iter_studies
from carpet.batch.export import ExportResult, export_batch
from carpet.batch.jobs import StudyJob
from carpet.batch.manifest import ManifestRow, iter_manifest, validate_manifest
from carpet.batch.runner import BatchProgress, BatchSummary, analyze_study, run_batch
from carpet.batch.state import BatchState, StudyRecord

__all__ = [
    "BatchProgress",
    "BatchState",
    "BatchSummary",
    "DiscoveryProblem",
    "ExportResult",
    "ManifestRow",
    "StudyJob",
    "StudyRecord",
    "analyze_study",
    "export_batch",
    "iter_manifest",
    "iter_studies",
    "run_batch",
    "validate_manifest",
]
