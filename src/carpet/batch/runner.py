"""Run a batch: stream jobs, skip what is already done, analyse the rest on a pool, store results.

The coordinator (the process calling :func:`run_batch`) is the only writer of the database.
It pulls jobs lazily from discovery or the manifest, hashes their inputs (with a file-hash
cache), skips studies whose inputs and parameters are unchanged, and keeps at most
``workers × in_flight_per_worker`` studies in flight, fewer when their estimated memory would
exceed the memory budget. Each finished study is written to the database in one transaction.
Memory of the coordinator therefore does not grow with the number of studies.

Backends: a local process pool (``concurrent.futures.ProcessPoolExecutor``, forkserver start)
or an existing Dask distributed cluster (``scheduler="tcp://host:port"``): workers read the
inputs from the (shared) paths and write their study's output folder; only results travel back.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from carpet._io import sha256_file
from carpet.batch.jobs import StudyJob, files_of, fingerprint, key_of
from carpet.batch.state import STATE_FILENAME, BatchState, StudyRecord, utc_now
from carpet.config import AnalysisConfig, BatchConfig, to_dict
from carpet.errors import CarpetError, ConfigError

__all__ = [
    "STUDIES_DIRNAME",
    "BatchProgress",
    "BatchSummary",
    "analyze_study",
    "available_memory_mb",
    "jobs_from_manifest",
    "run_batch",
]

logger = logging.getLogger(__name__)

#: Sub-folder of the batch output folder holding one output folder per study.
STUDIES_DIRNAME = "studies"

Task = Callable[[StudyJob, dict[str, Any]], StudyRecord]


# ----------------------------------------------------------------------------- progress


@dataclass
class BatchProgress:
    """Counts reported to the ``progress`` callback after every event.

    ``total`` is the number of studies discovered so far (final once ``discovery_done``);
    ``expected_total`` estimates the final total before that (manifest rows, or the studies per
    top-level folder so far x the folders); ``finished`` = done + failed + skipped.
    """

    total: int = 0
    expected_total: int | None = None
    done: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0
    discovery_done: bool = False
    elapsed_s: float = 0.0
    computed: int = 0
    last_key: str | None = None
    last_status: str | None = None
    last_code: str | None = None

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def rate_per_s(self) -> float:
        """Studies computed per second (skipped ones excluded)."""
        return self.computed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds to go at the current rate (None while unknown)."""
        total = self.total if self.discovery_done else self.expected_total
        if total is None or self.rate_per_s == 0:
            return None
        return max(total - self.finished, 0) / self.rate_per_s

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(
            finished=self.finished,
            rate_per_s=round(self.rate_per_s, 4),
            eta_s=None if self.eta_s is None else round(self.eta_s, 1),
        )
        return d


class ProgressCallback(Protocol):
    def __call__(self, progress: BatchProgress) -> None: ...


@dataclass(frozen=True)
class BatchSummary:
    """What a run did and the state of the whole batch afterwards.

    ``computed`` = studies analysed by this run; ``skipped`` = unchanged and already stored;
    ``failures_by_code`` covers the whole database (this run's and earlier final failures).
    """

    out_dir: Path
    database: Path
    run_id: int
    total: int
    computed: int
    done: int
    failed: int
    skipped: int
    failures_by_code: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    discovery_problems: int = 0

    @property
    def ok(self) -> bool:
        """True when no study of the batch is recorded as failed."""
        return not self.failures_by_code

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["out_dir"], d["database"], d["ok"] = str(self.out_dir), str(self.database), self.ok
        return d


# ----------------------------------------------------------------------------- the worker side


def _overrides(job: StudyJob) -> Any:
    if not job.overrides:
        return None
    import datetime

    from carpet.suv import SuvOverrides

    kw = dict(job.overrides)
    if isinstance(kw.get("injection_datetime"), str):
        kw["injection_datetime"] = datetime.datetime.fromisoformat(kw["injection_datetime"])
    return SuvOverrides(**kw)


def _write_output(result: Any, final: Path) -> None:
    """Write the analysis folder so that ``final`` is either absent or complete."""
    from carpet.pipeline import write_analysis

    if final.exists():
        shutil.rmtree(final)
    write_analysis(result, final)


def _records(lesions: Any) -> list[dict[str, Any]]:
    if lesions is None:
        return []
    if hasattr(lesions, "to_dict"):
        return [dict(r) for r in lesions.to_dict(orient="records")]
    return [dict(r) for r in lesions]


def _pop_timings(patient: dict[str, Any]) -> dict[str, Any]:
    """Move the analysis timings out of ``patient.json`` content (they go to a timing column).

    Timings differ between otherwise identical runs; keeping them out of ``patient_json``
    makes a resumed batch's database equal an uninterrupted one's, row for row.
    """
    prov = patient.get("provenance")
    if isinstance(prov, dict) and "timings_s" in prov:
        prov = dict(prov)
        timings = prov.pop("timings_s")
        patient["provenance"] = prov
        return dict(timings) if isinstance(timings, dict) else {"timings_s": timings}
    return {}


def analyze_study(job: StudyJob, params: dict[str, Any]) -> StudyRecord:
    """Analyse one study and write its output folder; never raises for a bad study.

    This is the default task run by the workers: ``read_pet`` (with the job's series and SUV
    overrides), ``carpet.pipeline.analyze`` with the batch's analysis configuration, and
    ``write_analysis`` into ``params["studies_dir"]/<study_key>``. A
    :class:`~carpet.errors.CarpetError` becomes a failed record with its ``code``; an
    unexpected exception becomes ``INTERNAL_ERROR`` (with the exception type), memory
    exhaustion ``OUT_OF_MEMORY``.

    Parameters
    ----------
    job : StudyJob
        The study.
    params : dict
        ``analysis`` (AnalysisConfig as dict), ``with_ct``, ``out_dir``, ``input_hash``,
        ``params_hash``, ``params_json``, ``software_version``.

    Returns
    -------
    StudyRecord
    """
    started = utc_now()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    base = dict(
        study_key=job.study_key,
        patient_id=job.patient_id,
        timepoint=job.timepoint,
        source_path=params.get("source_display", {}).get(job.study_key, job.path),
        series_uid=job.series_uid,
        input_hash=params["input_hash"],
        params_hash=params["params_hash"],
        params_json=params["params_json"],
        software_version=params["software_version"],
        overrides_json=job.overrides_json(),
    )

    def failed(code: str, message: str) -> StudyRecord:
        return StudyRecord(
            **base,
            status="failed",
            error_code=code,
            error_message=message,
            started_utc=started,
            finished_utc=utc_now(),
            duration_s=time.perf_counter() - t0,
        )

    if job.problem is not None:
        return failed(*job.problem)
    try:
        from carpet.ingest import read_pet
        from carpet.pipeline import analyze

        config = (
            AnalysisConfig(**params["analysis"])
            if params.get("analysis") is not None
            else AnalysisConfig()
        )
        pet = read_pet(
            job.path, series_uid=job.series_uid, units=job.units, overrides=_overrides(job)
        )
        ct = None
        if params.get("with_ct"):
            from carpet.ingest import read_ct_for

            ct = read_ct_for(pet)
        result = analyze(pet, config=config, ct=ct)
        rel = f"{STUDIES_DIRNAME}/{job.study_key}"
        _write_output(result, Path(params["out_dir"]) / rel)
        provenance = getattr(result, "provenance", None) or {}
        suv = provenance.get("suv") if isinstance(provenance, dict) else None
        if suv is None and getattr(pet, "suv_factors", None) is not None:
            suv = pet.suv_factors.to_dict()
        patient = dict(result.patient)
        timings = _pop_timings(patient)
        timings["worker_cpu_s"] = time.process_time() - cpu0
        return StudyRecord(
            **base,
            status="done",
            suv_provenance=suv,
            patient=patient,
            timings=timings,
            warnings=[str(w) for w in (getattr(result, "warnings", None) or ())],
            lesions=_records(result.lesions),
            output_dir=rel,
            started_utc=started,
            finished_utc=utc_now(),
            duration_s=time.perf_counter() - t0,
        )
    except CarpetError as exc:
        return failed(exc.code, str(exc))
    except MemoryError:
        return failed(
            "OUT_OF_MEMORY", f"{job.path}: memory exhausted while analysing; lower --workers"
        )
    except Exception as exc:  # noqa: BLE001 - failure isolation: one bad study never stops the batch
        logger.debug("study %s failed:\n%s", job.study_key, traceback.format_exc())
        return failed("INTERNAL_ERROR", f"{job.path}: {type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------------- backends


#: Modules imported once by the forkserver, so that each worker starts warm.
_WORKER_PRELOAD = ("carpet.batch.runner", "carpet.batch._warmup")


class _LocalBackend:
    """A process pool; a worker that dies fails only its studies (the pool is rebuilt)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._ctx = multiprocessing.get_context("forkserver")
        with contextlib.suppress(ValueError, RuntimeError):
            # Workers fork from a server that has imported the pipeline once (imports take seconds).
            self._ctx.set_forkserver_preload(list(_WORKER_PRELOAD))
        self._pool = self._new()

    def _new(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx)

    def submit(self, task: Task, job: StudyJob, params: dict[str, Any]) -> Any:
        try:
            return self._pool.submit(task, job, params)
        except cf.process.BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new()
            return self._pool.submit(task, job, params)

    def wait_any(self, futures: Iterable[Any]) -> set[Any]:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return set(done)

    @staticmethod
    def outcome(fut: Any) -> StudyRecord | BaseException:
        exc = fut.exception()
        return exc if exc is not None else fut.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _DaskBackend:
    """Futures on an existing Dask distributed cluster (coordinator = this process)."""

    def __init__(self, address: str, *, timeout_s: float = 20.0) -> None:
        import distributed

        try:
            self._client = distributed.Client(
                address, timeout=f"{timeout_s}s", set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"--scheduler {address}: cannot connect to the Dask scheduler ({exc}); "
                "check the address (tcp://host:port) and that the scheduler is running",
                code="SCHEDULER_UNREACHABLE",
            ) from exc
        from distributed.client import _wait

        self._wait_coro = _wait
        info = self._client.scheduler_info()
        self.workers = max(
            1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
        )

    def submit(self, task: Task, job: StudyJob, params: dict[str, Any]) -> Any:
        return self._client.submit(
            task, job, params, pure=False, key=f"carpet-batch-{job.study_key}-{os.urandom(4).hex()}"
        )

    def wait_any(self, futures: Iterable[Any]) -> set[Any]:
        # distributed.wait() uses the default client; call its coroutine on our own client instead.
        res = self._client.sync(
            self._wait_coro, list(futures), timeout=None, return_when="FIRST_COMPLETED"
        )
        return set(res.done)

    @staticmethod
    def outcome(fut: Any) -> StudyRecord | BaseException:
        if fut.status == "finished":
            return fut.result()
        try:
            return fut.exception() or RuntimeError(f"dask future ended with status {fut.status}")
        except BaseException as exc:  # noqa: BLE001 - cancelled futures raise here
            return exc

    def close(self) -> None:
        self._client.close()


# ----------------------------------------------------------------------------- coordinator helpers


def available_memory_mb() -> float:
    """Memory available to new processes (MB), from /proc/meminfo or sysconf."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    return 4096.0


class _Hasher:
    """SHA-256 of files with a (path, size, mtime) cache in the batch database."""

    def __init__(self, state: BatchState) -> None:
        self.state = state
        self.pending: list[tuple[str, int, int, str]] = []
        self.bytes = 0

    def __call__(self, path: str) -> str:
        try:
            st = os.stat(path)
        except OSError:
            return "missing"
        self.bytes += st.st_size
        cached = self.state.cached_hash(path, st.st_size, st.st_mtime_ns)
        if cached is not None:
            return cached
        digest = sha256_file(path)
        self.pending.append((path, st.st_size, st.st_mtime_ns, digest))
        return digest

    def flush(self) -> None:
        self.state.store_hashes(self.pending)
        self.pending.clear()


def jobs_from_manifest(
    manifest: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    validate: bool = True,
) -> Iterator[StudyJob]:
    """Validate a manifest (all problems at once, unless ``validate=False``) then stream its rows as jobs."""
    from carpet.batch.manifest import iter_manifest, validate_manifest

    if validate:
        validate_manifest(manifest, root=root)
    for row in iter_manifest(manifest, root=root):
        yield StudyJob(
            study_key=key_of("manifest", row.patient_id, row.timepoint),
            patient_id=row.patient_id,
            timepoint=row.timepoint,
            path=str(row.path),
            series_uid=row.series_uid,
            units=row.units,
            overrides=dict(row.overrides),
        )


#: Unreadable files kept in the ``discovery_problems`` table (the rest are only counted), so
#: that an archive full of non-DICOM files cannot grow the coordinator's memory.
_MAX_PROBLEMS_KEPT = 10_000


class _CappedList(list):  # type: ignore[type-arg]
    """A list that keeps its first ``cap`` items and counts every append in ``seen``."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap
        self.seen = 0

    def append(self, item: Any) -> None:
        self.seen += 1
        if len(self) < self.cap:
            super().append(item)

    def extend(self, items: Iterable[Any]) -> None:
        for it in items:
            self.append(it)


#: Lock file of a batch folder: one coordinator at a time (released by the OS even on SIGKILL).
LOCK_FILENAME = "batch.lock"


def _lock_batch_dir(out: Path) -> Any:
    """Hold an exclusive lock on ``out/batch.lock`` or refuse (another run is active)."""
    import fcntl

    fh = open(out / LOCK_FILENAME, "a+")  # noqa: SIM115 - kept open for the whole run
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        raise ConfigError(
            f"{out}: another `carpet batch` is running on this folder; wait for it to finish "
            "or give another --out",
            code="BATCH_LOCKED",
        ) from exc
    return fh


def _clean_stale(studies_dir: Path) -> int:
    """Remove temporary folders left by a killed run (never complete outputs)."""
    n = 0
    if studies_dir.is_dir():
        for p in studies_dir.iterdir():
            if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                n += 1
    return n


def params_of(config: AnalysisConfig, *, with_ct: bool = False) -> tuple[str, str]:
    """``(params_json, params_hash)``: resolved analysis parameters + software version."""
    from carpet._version import __version__

    pj = json.dumps(
        {"analysis": to_dict(config), "with_ct": with_ct, "software_version": __version__},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return pj, hashlib.sha256(pj.encode()).hexdigest()


# ----------------------------------------------------------------------------- run_batch


def run_batch(
    root: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    config: AnalysisConfig | None = None,
    batch: BatchConfig | None = None,
    manifest: str | os.PathLike[str] | None = None,
    scheduler: str | None = None,
    jobs: Iterable[StudyJob] | None = None,
    task: Task | None = None,
    progress: ProgressCallback | None = None,
    with_ct: bool = False,
) -> BatchSummary:
    """Analyse every study under ``root`` (or of ``manifest``) into ``out_dir``, resumably.

    Parameters
    ----------
    root : path-like or None
        Archive folder (discovered with :func:`carpet.batch.discover.iter_studies`); with a
        manifest, the folder its relative paths are relative to (default: the manifest's folder).
    out_dir : path-like
        Batch folder: ``batch.sqlite`` and ``studies/<study_key>/`` (``carpet analyze`` outputs).
    config : AnalysisConfig, optional
        Analysis parameters; a change recomputes every study.
    batch : BatchConfig, optional
        Workers, memory budget and retry policy (never change results).
    manifest : path-like, optional
        CSV manifest (validated up-front; all problems reported at once).
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:port``); default: local pool.
    jobs : iterable of StudyJob, optional
        Explicit jobs instead of discovery/manifest (used by benchmarks and tools).
    task : callable, optional
        ``task(job, params) -> StudyRecord`` run by the workers (default :func:`analyze_study`);
        must be importable by the workers.
    progress : callable, optional
        Called with a :class:`BatchProgress` after every event.
    with_ct : bool
        Also read each study's CT (``carpet analyze --ct``); part of the parameters.

    Returns
    -------
    BatchSummary

    Notes
    -----
    A study is skipped when the database holds it with the same input hash (SHA-256 of its
    files, series and overrides) and the same parameter hash (analysis configuration and
    software version), and either it is ``done`` and its output folder exists, or it failed
    with a final code (not in ``BatchConfig.retry_codes``). Everything else is (re)computed.
    In-flight studies ≤ ``workers × in_flight_per_worker`` and their summed memory estimate
    (``max(min_study_memory_mb, memory_per_input_byte × input bytes)``) ≤ the memory budget
    (one study always runs).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> s = run_batch(None, out, jobs=[], batch=BatchConfig(workers=1))
    >>> (s.total, s.ok)
    (0, True)
    """
    from carpet._version import __version__

    config = config if config is not None else AnalysisConfig()
    batch = batch if batch is not None else BatchConfig()
    task = task if task is not None else analyze_study
    out = Path(os.path.abspath(out_dir))
    discovery_problems = _CappedList(_MAX_PROBLEMS_KEPT)
    discovery_stats: Any = None
    expected_total: int | None = None
    if jobs is None:
        if manifest is not None:
            from carpet.batch.manifest import validate_manifest

            # every problem at once, before anything is written
            expected_total = validate_manifest(manifest, root=root)
            jobs = jobs_from_manifest(manifest, root=root, validate=False)
        elif root is not None:
            from carpet.batch.discover import DiscoveryStats, iter_studies

            discovery_stats = DiscoveryStats()
            jobs = iter_studies(
                root,
                keep_patient_ids=batch.keep_patient_ids,
                problems=discovery_problems,
                stats=discovery_stats,
            )
        else:
            raise ConfigError(
                "carpet batch needs a ROOT folder or a --manifest", code="BATCH_NO_INPUT"
            )
    job_iter = iter(jobs)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock_batch_dir(out)
    studies_dir = out / STUDIES_DIRNAME
    studies_dir.mkdir(exist_ok=True)
    _clean_stale(studies_dir)

    params_json, params_hash = params_of(config, with_ct=with_ct)
    analysis = to_dict(config)
    state = BatchState(out / STATE_FILENAME)
    run_id = state.start_run(
        software_version=__version__,
        params_hash=params_hash,
        params_json=params_json,
        root=None if root is None else str(root),
        scheduler=scheduler,
    )
    hasher = _Hasher(state)
    prog = BatchProgress(expected_total=expected_total)
    t_start = time.perf_counter()
    display_root = Path(os.path.abspath(root)) if root is not None else None

    def emit(**last: Any) -> None:
        prog.elapsed_s = time.perf_counter() - t_start
        for k, v in last.items():
            setattr(prog, f"last_{k}", v)
        if progress is not None:
            progress(prog)

    backend: _LocalBackend | _DaskBackend | None = None
    workers = batch.workers or os.cpu_count() or 1
    budget_mb = batch.memory_budget_mb or 0.75 * available_memory_mb()
    in_flight: dict[Any, tuple[StudyJob, float, dict[str, Any]]] = {}
    mem_in_flight = 0.0
    pending: tuple[StudyJob, float, dict[str, Any]] | None = None
    n_submitted = 0

    def display(path: str) -> str:
        if display_root is not None:
            with contextlib.suppress(ValueError):
                rel = os.path.relpath(path, display_root)
                if not rel.startswith(".."):
                    return rel
        return path

    def next_job() -> tuple[StudyJob, float, dict[str, Any]] | None:
        """Pull jobs until one needs computing (skipping unchanged ones); None at the end."""
        while True:
            try:
                job = next(job_iter)
            except StopIteration:
                prog.discovery_done = True
                hasher.flush()
                return None
            prog.total += 1
            if discovery_stats is not None:
                prog.expected_total = discovery_stats.expected_total(prog.total)
            hasher.bytes = 0
            files = files_of(job)
            ihash = fingerprint(job, hasher, files=files)
            if len(hasher.pending) > 256:
                hasher.flush()
            known = state.lookup(job.study_key)
            if known is not None and known[1] == ihash and known[2] == params_hash:
                status, _, _, code = known
                if (status == "done" and (studies_dir / job.study_key).is_dir()) or (
                    status == "failed" and code not in batch.retry_codes and not batch.retry_failed
                ):
                    prog.skipped += 1
                    emit(key=job.study_key, status="skipped", code=None)
                    continue
            mem = max(batch.min_study_memory_mb, batch.memory_per_input_byte * hasher.bytes / 2**20)
            p = {
                "analysis": analysis,
                "with_ct": with_ct,
                "out_dir": str(out),
                "input_hash": ihash,
                "params_hash": params_hash,
                "params_json": params_json,
                "software_version": __version__,
                "source_display": {job.study_key: display(job.path)},
            }
            return job, mem, p

    def store(rec: StudyRecord) -> None:
        state.record(rec, run_id=run_id)
        prog.computed += 1
        if rec.status == "done":
            prog.done += 1
        else:
            prog.failed += 1
        emit(key=rec.study_key, status=rec.status, code=rec.error_code)

    try:
        max_in_flight = 1
        exhausted = False
        # Jobs that were in flight when a local worker process died: rerun one at a time
        # ("solo") so that only the study that kills its worker is recorded as WORKER_DIED.
        suspects: collections.deque[tuple[StudyJob, float, dict[str, Any]]] = collections.deque()
        solo: Any = None
        while True:
            if solo is None and suspects:
                if not in_flight:
                    job, mem, p = suspects.popleft()
                    assert backend is not None
                    solo = backend.submit(task, job, p)
                    in_flight[solo] = (job, mem, p)
                    mem_in_flight += mem
            # Fill the pipeline: bounded count, bounded memory.
            while not exhausted and solo is None and not suspects:
                if pending is None:
                    pending = next_job()
                    if pending is None:
                        exhausted = True
                        break
                if backend is None:
                    backend = (
                        _DaskBackend(scheduler, timeout_s=batch.scheduler_timeout_s)
                        if scheduler
                        else _LocalBackend(workers)
                    )
                    max_in_flight = backend.workers * batch.in_flight_per_worker
                job, mem, p = pending
                if in_flight and (
                    len(in_flight) >= max_in_flight or mem_in_flight + mem > budget_mb
                ):
                    break
                fut = backend.submit(task, job, p)
                in_flight[fut] = pending
                mem_in_flight += mem
                n_submitted += 1
                pending = None
                prog.in_flight = len(in_flight)
                emit(key=job.study_key, status="submitted", code=None)
            if not in_flight:
                if suspects:
                    continue
                break
            for fut in backend.wait_any(in_flight):
                job, mem, p = entry = in_flight.pop(fut)
                mem_in_flight -= mem
                outcome = backend.outcome(fut)
                was_solo = fut is solo
                if was_solo:
                    solo = None
                if isinstance(outcome, BaseException):
                    if isinstance(outcome, cf.process.BrokenProcessPool) and not was_solo:
                        suspects.append(entry)
                        continue
                    rec = StudyRecord(
                        study_key=job.study_key,
                        patient_id=job.patient_id,
                        timepoint=job.timepoint,
                        source_path=p["source_display"][job.study_key],
                        series_uid=job.series_uid,
                        status="failed",
                        error_code="WORKER_DIED",
                        error_message=f"{job.path}: the worker analysing it stopped "
                        f"({type(outcome).__name__}: {outcome}); retried by the next run",
                        input_hash=p["input_hash"],
                        params_hash=params_hash,
                        params_json=params_json,
                        software_version=__version__,
                        overrides_json=job.overrides_json(),
                        finished_utc=utc_now(),
                    )
                else:
                    rec = outcome
                store(rec)
                prog.in_flight = len(in_flight)
        if discovery_problems:
            state.replace_discovery_problems([(p.path, p.reason) for p in discovery_problems])
        counts = state.count_by_status()
        state.finish_run(
            run_id,
            n_submitted=n_submitted,
            n_done=prog.done,
            n_failed=prog.failed,
            n_skipped=prog.skipped,
        )
        emit()
        return BatchSummary(
            out_dir=out,
            database=out / STATE_FILENAME,
            run_id=run_id,
            total=prog.total,
            computed=prog.computed,
            done=counts.get("done", 0),
            failed=counts.get("failed", 0),
            skipped=prog.skipped,
            failures_by_code=state.failures_by_code(),
            elapsed_s=time.perf_counter() - t_start,
            discovery_problems=discovery_problems.seen,
        )
    finally:
        if backend is not None:
            backend.close()
        state.close()
        lock.close()
