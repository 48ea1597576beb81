"""A cache of computed target answers, invalidated exactly by the database's data version (migrations 0014, 0016).

Every transaction that changes a table the target answers read bumps a data version in its own transaction: the
registry and its histories, baselines, degree days, settings, CO2 factors, targets, adjustments and luminaires bump
`targets_data_version`; the monthly and daily rollups and gap steps bump the version of the years and of the months
their rows concern (`targets_year_version`, `targets_month_version`; the hourly CO2 intensities their years'). An
answer is cached under the version read *before* any of its data: every row it then reads is at least as new as that
version, and any change committed later raises the version, so no later request finds the entry again. An entry is
therefore never reused after a change it did not see. An answer is keyed by the versions of the years (or months)
whose rollups it reads: a running year's progress by its complete months, so the rollups of the running month, which
a live system commits every second, leave it current. The key also holds everything else the answer depends on: the
route and its parameters, the caller's scope and the local date (`today`); answers that depend on the current instant
(LED shares "now", target statuses) are not cached whole. Whether readings wait for the rollups (`rollup_dirty`,
which moves no version) is read on every request, outside the cached figures (services/targets/service.py
progress_keyed, services/reports/service.py _with_freshness).

The cost of exactness: a change to an undated table recomputes every answer on its first request (seconds at 2,000
buildings; docs/benchmarks.md). Entries are held in process memory (one cache per API worker), least recently used
first out, within a byte budget.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from datetime import date, datetime
from typing import Any, TypeVar

from services.db import PgConn
from services.targets import repository as repo

T = TypeVar("T")

DataVersion = tuple[int, datetime, tuple[int, ...], tuple[int, ...]]


def data_version(conn: PgConn, years: Iterable[int] = (), months: Iterable[date] = ()) -> DataVersion:
    """The current data version of what an answer about `years` and `months` reads (read it before that data): the
    version of everything not dated (registry, baselines, settings...), of each year's rollups and pending rollups,
    and of each month's rollups (first days: migration 0016; an answer keyed by months reads no pending rollups)."""
    return repo.data_version(conn, sorted(set(years)), sorted(set(months)))


class Lru:
    """A thread-safe least-recently-used map with a budget: `cost(value)` units in all (bytes, or 1 per entry)."""

    def __init__(self, budget: int, cost: Callable[[Any], int]) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._costs: dict[Hashable, int] = {}
        self._used = 0
        self._budget = budget
        self._cost = cost
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: Any) -> None:
        cost = self._cost(value)
        if cost > self._budget:
            return
        with self._lock:
            if key in self._items:
                self._used -= self._costs.pop(key)
                del self._items[key]
            self._items[key] = value
            self._costs[key] = cost
            self._used += cost
            while self._used > self._budget:
                old, _ = self._items.popitem(last=False)
                self._used -= self._costs.pop(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._costs.clear()
            self._used = 0


# computed answers as Python objects (shared: callers must not change them), at most 48 of them
answers = Lru(48, lambda _v: 1)
# serialised answers (bytes) as the API sends them, within 256 MiB
responses = Lru(256 * 1024 * 1024, lambda v: len(v[0]) if isinstance(v, tuple) else sys.getsizeof(v))


_inflight: dict[Hashable, Future[Any]] = {}
_inflight_lock = threading.Lock()


def memo(conn: PgConn, key: Hashable, compute: Callable[[], T], years: Iterable[int] = (), *,
         keep: Callable[[T], bool] = lambda _v: True, months: Iterable[date] = ()) -> T:
    """The answer for `key` at the current data version of `years` and `months` (every year and month whose rollups
    it reads): cached, or computed now and cached, unless `keep(answer)` says the years assumed were not the ones it
    read. Requests that need the same answer while it is being computed wait for that computation instead of
    repeating it (the view asks for this year's progress and the path, which holds it, at once)."""
    return memo_keyed(conn, key, compute, years, keep=keep, months=months)[1]


def memo_keyed(conn: PgConn, key: Hashable, compute: Callable[[], T], years: Iterable[int] = (), *,
               keep: Callable[[T], bool] = lambda _v: True, months: Iterable[date] = ()) -> tuple[Hashable, T]:
    """`memo`, with the full key the answer is kept under (its key and data version): equal full keys, equal
    answers."""
    ys, ms = tuple(sorted(set(years))), tuple(sorted(set(months)))
    full = (key, ys, ms, data_version(conn, ys, ms))
    hit = answers.get(full)
    if hit is not None:
        return full, hit
    with _inflight_lock:
        running = _inflight.get(full)
        if running is None:
            mine: Future[Any] = Future()
            _inflight[full] = mine
    if running is not None:
        return full, running.result()
    try:
        value = compute()
    except BaseException as e:
        mine.set_exception(e)
        raise
    finally:
        with _inflight_lock:
            _inflight.pop(full, None)
    if keep(value):
        answers.put(full, value)
    mine.set_result(value)
    return full, value
