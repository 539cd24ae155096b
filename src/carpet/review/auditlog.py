"""Append-only, hash-chained audit log of a review: ``DIR/review_log.jsonl``.

Every reader action (and every save) becomes one JSON line with the UTC time, the
reader's name, the action (in the reader-edits format of ``carpet analyze``), the
lesion id it touched, TMTV before and after, and the SHA-256 of the previous line
(the bytes of that line, without its newline). A changed line breaks the chain at
its successor; a deleted line breaks it too (and leaves a gap in ``seq``). The
last line has no successor, so the count and hash of the last line are also kept in
``DIR/review_log.head`` (rewritten atomically after each append): a changed or
removed last line is detected against it.

This is tamper *evidence*, not tamper *proof*: someone who rewrites the whole
chain and the head consistently is not detected (that needs a signature or an
external witness).

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> log = AuditLog(d, user="dr_a")
>>> _ = log.append({"action": "remove", "lesion_id": 3}, tmtv_ml_before=12.5, tmtv_ml_after=10.0)
>>> verify_log(d).ok
True
>>> lines = (d / LOG_NAME).read_text().replace("10.0", "11.0")
>>> _ = (d / LOG_NAME).write_text(lines)
>>> verify_log(d).ok
False
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carpet._io import atomic_write_json
from carpet.errors import InputError

__all__ = [
    "LOG_NAME",
    "HEAD_NAME",
    "GENESIS_SHA256",
    "AuditLog",
    "LogVerification",
    "verify_log",
    "os_user",
]

#: File name of the log inside the analysis folder.
LOG_NAME = "review_log.jsonl"
#: File name of the head record (count + hash of the last line).
HEAD_NAME = "review_log.head"
#: ``prev_sha256`` of the first entry.
GENESIS_SHA256 = "0" * 64


def os_user() -> str:
    """The operating-system user name (``"unknown"`` when it cannot be found)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry / no login name in a container
        return "unknown"


def _sha256_line(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\r\n")).hexdigest()


class AuditLog:
    """Appender for ``DIR/review_log.jsonl`` (thread-safe within one process).

    Parameters
    ----------
    folder : path
        The analysis output folder.
    user : str or None
        Reader name recorded in every entry; the OS user when None.

    Raises
    ------
    InputError
        ``REVIEW_LOG_TAMPERED`` if an existing log fails :func:`verify_log`:
        a review is never appended to a broken chain.
    """

    def __init__(self, folder: str | os.PathLike[str], *, user: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOG_NAME
        self.head_path = self.folder / HEAD_NAME
        self.user = user or os_user()
        self._lock = threading.Lock()
        check = verify_log(self.folder)
        if not check.ok:
            raise InputError(
                f"{self.path}: the review log failed verification ({'; '.join(check.problems)}); "
                "it will not be appended to. Keep it as evidence and move it aside to start a new log.",
                code="REVIEW_LOG_TAMPERED",
            )
        self._seq = check.n_entries
        self._last = check.last_sha256

    def append(
        self,
        action: dict[str, Any],
        *,
        tmtv_ml_before: float | None,
        tmtv_ml_after: float | None,
        lesion_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one entry and return it (as written).

        Parameters
        ----------
        action : dict
            The action, e.g. ``{"action": "remove", "lesion_id": 3}``, or
            ``{"action": "save"}`` / ``{"action": "undo"}``.
        tmtv_ml_before, tmtv_ml_after : float or None
            Patient TMTV before and after the action, mL.
        lesion_id : int or None
            Lesion touched; taken from ``action["lesion_id"]`` when not given.
        extra : dict or None
            More fields (e.g. saved file paths).
        """
        if lesion_id is None and isinstance(action.get("lesion_id"), int):
            lesion_id = int(action["lesion_id"])
        with self._lock:
            entry = {
                "seq": self._seq + 1,
                "time_utc": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "user": self.user,
                "action": action,
                "lesion_id": lesion_id,
                "tmtv_ml_before": tmtv_ml_before,
                "tmtv_ml_after": tmtv_ml_after,
                "prev_sha256": self._last,
            }
            if extra:
                entry.update(extra)
            line = json.dumps(
                entry, sort_keys=True, allow_nan=False, separators=(",", ":")
            ).encode()
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                fh.write(line + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._seq += 1
            self._last = _sha256_line(line)
            atomic_write_json(self.head_path, {"n_entries": self._seq, "last_sha256": self._last})
        return entry


@dataclass(frozen=True)
class LogVerification:
    """Result of :func:`verify_log`.

    Attributes
    ----------
    ok : bool
        True when the chain, the sequence numbers and the head record agree.
    n_entries : int
        Number of lines read.
    problems : list of str
        One message per problem, naming the line number.
    last_sha256 : str
        Hash of the last line (:data:`GENESIS_SHA256` for an empty log).
    """

    ok: bool
    n_entries: int
    problems: list[str] = field(default_factory=list)
    last_sha256: str = GENESIS_SHA256


def verify_log(folder: str | os.PathLike[str]) -> LogVerification:
    """Check ``folder/review_log.jsonl`` for changed, inserted or deleted entries.

    Parameters
    ----------
    folder : path
        The analysis folder holding the log (a missing log is a valid, empty log
        unless a head record says entries existed).

    Returns
    -------
    LogVerification

    Notes
    -----
    Entry *n* stores ``prev_sha256 = SHA-256(bytes of line n-1)`` and
    ``seq = n``; the head file stores the count and the hash of the last line.
    """
    folder = Path(folder)
    path, head_path = folder / LOG_NAME, folder / HEAD_NAME
    problems: list[str] = []
    prev = GENESIS_SHA256
    n = 0
    if path.exists():
        for n, raw in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                entry = json.loads(raw)
            except ValueError:
                problems.append(f"line {n}: not valid JSON")
                prev = _sha256_line(raw)
                continue
            if not isinstance(entry, dict):
                problems.append(f"line {n}: not a JSON object")
            else:
                if entry.get("prev_sha256") != prev:
                    problems.append(
                        f"line {n}: prev_sha256 does not match line {n - 1} (an entry was changed, "
                        "inserted or deleted)"
                    )
                if entry.get("seq") != n:
                    problems.append(f"line {n}: seq is {entry.get('seq')!r}, expected {n}")
            prev = _sha256_line(raw)
    if head_path.exists():
        try:
            head = json.loads(head_path.read_text())
            want_n, want_sha = int(head["n_entries"]), str(head["last_sha256"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"{HEAD_NAME}: unreadable")
        else:
            if want_n != n:
                problems.append(f"{HEAD_NAME}: records {want_n} entries, the log has {n}")
            elif want_sha != prev:
                problems.append(f"{HEAD_NAME}: the last entry (line {n}) was changed")
    elif n:
        problems.append(f"{HEAD_NAME} is missing (the log cannot be checked to its end)")
    return LogVerification(ok=not problems, n_entries=n, problems=problems, last_sha256=prev)
