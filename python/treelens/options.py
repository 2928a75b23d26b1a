"""Checks of the options every entry point takes, made before any work: a value of the wrong
type or out of range is an :class:`InvalidInputError` naming the parameter and what it accepts
(never a bare ``OverflowError`` from the binding, nor a thread per unit of ``n_jobs``)."""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
import threading

import numpy as np

from . import _core
from .exceptions import InvalidInputError

#: Largest value the core takes for a count (a signed 64-bit integer).
_INT64_MAX = 2**63 - 1
#: Largest byte count the core takes (an unsigned 64-bit integer).
_UINT64_MAX = 2**64 - 1


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


#: Environment variables that set the default thread count (``n_jobs=None``), first found wins.
THREAD_VARIABLES = ("TREELENS_NUM_THREADS", "RAYON_NUM_THREADS")


def _in_dask_worker() -> bool:
    """Whether this thread runs a task of a ``distributed`` worker (never imports it)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


_engine = threading.local()


@contextlib.contextmanager
def engine_task():
    """Marks the calling thread as running one task of a parallel engine (treelens' Dask tasks,
    on any scheduler): ``n_jobs=None`` then means one thread."""
    previous = getattr(_engine, "active", False)
    _engine.active = True
    try:
        yield
    finally:
        _engine.active = previous


def default_n_jobs() -> int | None:
    """What ``n_jobs=None`` means here: ``TREELENS_NUM_THREADS`` or ``RAYON_NUM_THREADS`` when
    set; inside a Dask task (a worker's, or one of treelens' tasks on any scheduler), one thread
    (the engine runs as many tasks at once as it has threads, its thread budget; Dask's nanny
    sets ``OMP_NUM_THREADS=1`` likewise); else None, all cores."""
    for variable in THREAD_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise InvalidInputError(
                    f"{variable}={value!r}: a thread count must be a positive integer"
                )
            return min(int(value), int(_core.max_threads))
    return 1 if getattr(_engine, "active", False) or _in_dask_worker() else None


def check_n_jobs(n_jobs, name: str = "n_jobs") -> int | None:
    """``n_jobs`` as the core takes it: None (all cores) or an int, capped at
    ``_core.max_threads`` (results are the same for any number of threads; more threads than
    that only cost memory). Negative values count back from the cores as in scikit-learn.
    None is resolved by :func:`default_n_jobs` when the work runs."""
    if n_jobs is None:
        return default_n_jobs()
    if not _is_int(n_jobs):
        raise InvalidInputError(
            f"{name} must be None (all cores) or an integer (-1: all cores, -2: all but one), "
            f"got {n_jobs!r}"
        )
    n = int(n_jobs)
    cap = int(_core.max_threads)
    return max(min(n, cap), -cap - 1)


def check_int(name: str, value, *, minimum: int, maximum: int | None = _INT64_MAX) -> int:
    """An integer option in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None)."""
    if not _is_int(value) or int(value) < minimum or (maximum is not None and int(value) > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise InvalidInputError(
            f"{name} must be an integer of at least {minimum}{upper}, got {value!r}"
        )
    return int(value)


def check_optional_int(name: str, value, *, minimum: int, none_means: str) -> int | None:
    """An integer of at least ``minimum`` (any size: counts above what exists mean all), or
    None."""
    if value is None:
        return None
    try:
        return check_int(name, value, minimum=minimum, maximum=None)
    except InvalidInputError:
        raise InvalidInputError(
            f"{name} must be None ({none_means}) or an integer of at least {minimum}, got {value!r}"
        ) from None


def check_max_bytes(max_bytes) -> int | None:
    """``max_bytes``: None or a byte count, 0 to 2**64 - 1."""
    if max_bytes is None:
        return None
    if not _is_int(max_bytes) or not 0 <= int(max_bytes) <= _UINT64_MAX:
        raise InvalidInputError(
            f"max_bytes must be None (the memory budget) or an integer from 0 to 2**64 - 1, "
            f"got {max_bytes!r}"
        )
    return int(max_bytes)


def check_seed(random_state, *, generators: bool):
    """``random_state``: None, an int from 0 to 2**32 - 1 (numpy's seeds), a
    ``numpy.random.RandomState``, or (when ``generators``) a ``numpy.random.Generator``."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return random_state
    if generators and isinstance(random_state, (np.random.Generator, np.random.SeedSequence)):
        return random_state
    if _is_int(random_state) and 0 <= int(random_state) <= 2**32 - 1:
        return int(random_state)
    kinds = "a numpy RandomState or Generator" if generators else "a numpy RandomState"
    raise InvalidInputError(
        f"random_state must be None, an integer from 0 to 2**32 - 1 or {kinds}, "
        f"got {random_state!r}"
    )


def check_dtype(dtype) -> np.dtype:
    """The float type results are stored in: float64 (the default, also for None) or float32."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not (dt == np.float64 or dt == np.float32):
        raise InvalidInputError(
            f"dtype must be numpy.float64 or numpy.float32 (computed in float64, stored in "
            f"float32 to halve the memory), got {dtype!r}"
        )
    return dt
