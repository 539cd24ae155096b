"""``carpet review``: a local, secure web page to review and edit the lesions of an analysis.

Python API
----------
* :class:`~carpet.review.session.ReviewSession` — ``ReviewSession.open(DIR, reader=NAME)``
  loads a ``carpet analyze`` output folder (the PET recorded in ``DIR/source.json``, or
  ``pet=PATH``; the automatic state from ``DIR/analysis_state.npz``); ``summary()``, ``lesions()``, ``apply(actions)``,
  ``undo()``, ``redo()``, ``save()``. Every action is a reader-edits action of
  ``carpet analyze --edits`` (:mod:`carpet.segment.edits`), totals come from
  :func:`carpet.measure.measure_lesions` / :func:`carpet.measure.patient_metrics`.
* :class:`~carpet.review.server.ReviewServer` — the HTTP server (127.0.0.1, token, CSRF,
  Host check, CSP); :func:`~carpet.review.session.run_server` runs it until Ctrl-C/SIGTERM.
* :class:`~carpet.review.auditlog.AuditLog` / :func:`~carpet.review.auditlog.verify_log` —
  the hash-chained ``DIR/review_log.jsonl``.

HTTP API (for scripts; every request needs ``Authorization: Bearer TOKEN`` or the cookie,
every POST also ``X-CSRF-Token`` and a JSON body)
------------------------------------------------------------------------------------------
* ``GET /api/summary`` → ``{"csrf_token", "patient": {tmtv_ml, tlg, suv_max, suv_peak,
  suv_mean, lesion_count, dmax_mm, ...}, "method", "dirty", "can_undo", "can_redo", ...}``
* ``GET /api/lesions`` → ``[{lesion_id, volume_ml, suv_max, suv_peak, suv_mean, tlg,
  status (auto|added|removed|physiological), centroid_mm [x, y, z] LPS, mip_px}]``
* ``POST /api/edits`` with a JSON list of actions (``{"action": "remove", "lesion_id": N}``,
  ``restore``, ``physiological``, ``remove_at``, ``{"action": "add", "point_mm": [x, y, z],
  "method": "suv4"}``, ``set_method``, ``flag``) → the new summary; all or nothing.
* ``POST /api/undo``, ``POST /api/redo`` → the new summary.
* ``POST /api/save`` → ``{"paths": {...}, "summary": ...}``: writes DIR/edits.json,
  patient.json, lesions.csv, mask.nii.gz, mip.png atomically; the automatic result stays in
  DIR/auto/.
* ``GET /api/mip``, ``/api/mip.png``, ``/api/pick?column=&row=``, ``/api/probe?point_mm=x,y,z``,
  ``/api/volume/{pet,labels,ct}.nii`` — what the page itself uses.
Errors: ``{"error": {"code", "message"}}`` with 400 (bad action, unknown lesion, point
outside), 401 (no token), 403 (wrong token, CSRF, Host, origin), 404, 405, 413, 415.
"""

from carpet.review.auditlog import AuditLog, verify_log
from carpet.review.server import ReviewServer
from carpet.review.session import ReviewSession, run_server

__all__ = ["AuditLog", "ReviewServer", "ReviewSession", "run_server", "verify_log"]
