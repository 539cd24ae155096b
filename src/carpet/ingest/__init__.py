"""Ingest: the only place that reads input files (DICOM, NIfTI, manifests)."""
