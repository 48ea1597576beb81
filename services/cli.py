"""The `energiblik` command: operations that are not part of a long-running process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.config import Settings, get_settings
from services.db import get_engine, pg

if TYPE_CHECKING:
    from datetime import datetime


def _broker_sync(args: argparse.Namespace, s: Settings) -> int:
    from services.broker.service import sync_from_settings

    n = sync_from_settings(get_engine(), s, reload=not args.no_reload)
    if n is None:
        print("broker-sync needs ENERGIBLIK_BROKER__PASSWORD_FILE, __ACL_FILE, __SECRET and ENERGIBLIK_MQTT__PASSWORD",
              file=sys.stderr)
        return 2
    print(f"broker files written for {n} buildings")
    return 0


def _broker_credentials(args: argparse.Namespace, s: Settings) -> int:
    from services.broker.service import building_identity

    if s.broker.secret is None:
        print("ENERGIBLIK_BROKER__SECRET is not set", file=sys.stderr)
        return 2
    ident = building_identity(s.broker.secret.get_secret_value(), args.building_id)
    print(f"username={ident.username}\npassword={ident.password}")
    return 0


def _import(args: argparse.Namespace, s: Settings) -> int:
    import getpass

    from services.registry.csv_import import VIA, Kind, after_import, import_csv
    from services.registry.service import Actor

    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    engine = get_engine()
    bar = StageBar(f"import {args.kind}", False if args.no_progress else None)
    try:
        with pg(engine, write=True) as conn:
            # the audit log's who: the operating-system user running the command
            result = import_csv(conn, Kind(args.kind), text, actor=Actor(f"cli:{getpass.getuser()}", None, VIA),
                                progress=bar)
    finally:
        bar.close()
    if result.rejected:
        for err in result.rejected:
            print(f"{args.file}:{err.line}: {err.field}: {err.message}", file=sys.stderr)
        print(f"nothing imported: {len(result.rejected)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    replayed = after_import(engine, s, result)
    print(f"imported {result.accepted} {args.kind} ({len(result.created)} created, {len(result.updated)} updated"
          + (f", {replayed} quarantined messages replayed)" if replayed else ")"))
    return 0


def _token(args: argparse.Namespace, s: Settings) -> int:
    from pydantic import ValidationError

    from services.auth import service as auth
    from services.auth.schemas import TokenIn
    from services.errors import DomainError
    from services.validation import field_errors

    engine = get_engine()
    try:
        if args.action == "create":
            body = TokenIn(name=args.name, role=args.role, building_ids=args.building or [])
            with pg(engine, write=True) as conn:
                tok = auth.create_token(conn, body)
            # The token alone on stdout, so scripts can capture it; the rest is for the person at the terminal.
            print(tok.token)
            scope = f" for buildings {', '.join(tok.building_ids)}" if tok.building_ids else ""
            print(f"token {tok.id} ({tok.role.value}{scope}) created; it is shown only this once", file=sys.stderr)
        elif args.action == "revoke":
            with pg(engine, write=True) as conn:
                revoked = auth.revoke_token(conn, args.id)
            print(f"token {revoked.id} ({revoked.name}) revoked at {revoked.revoked_at:%Y-%m-%d %H:%M:%S%z}")
        else:
            with pg(engine) as conn:
                tokens = auth.list_tokens(conn)
            for t in tokens:
                state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
                print(f"{t.id}\t{t.role.value}\t{','.join(t.building_ids) or '-'}\t{state}\t{t.name}")
    except ValidationError as e:
        for fe in field_errors(e.errors()):
            print(f"{fe.field}: {fe.message}", file=sys.stderr)
        return 2
    except DomainError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


_REBUILD: dict[str, object] = {}  # the rebuilding process's connection and time zone (_rebuild_open)


def _rebuild_open(url: str, timezone: str) -> None:
    """Open the rebuilding process's connection, kept for all the meters it is given. Without server-side prepared
    statements: psycopg prepares a statement from its fifth execution on, and a prepared (generic) plan of a query on
    the readings hypertable opens every chunk (hundreds for years of history) on each execution, about 50 ms, where
    a query planned with its values touches one or two chunks, about 1 ms."""
    from zoneinfo import ZoneInfo

    import psycopg

    from services.db import libpq_dsn

    _REBUILD["conn"] = psycopg.connect(libpq_dsn(url), prepare_threshold=None)
    _REBUILD["tz"] = ZoneInfo(timezone)


def _rebuild_meters(keys: list[int], chunk_days: int, spans: dict[int, tuple[datetime, datetime]]
                    ) -> tuple[int, int, list[int]]:
    """Rebuild the given meters on the process's connection (_rebuild_open), one transaction per meter; a meter that
    fails is recorded (processing_errors) and skipped. Returns (meters rebuilt, readings, keys that failed)."""
    from zoneinfo import ZoneInfo

    import psycopg

    from services.boundary import one_item
    from services.consumption.service import rebuild

    conn, tz = _REBUILD["conn"], _REBUILD["tz"]
    assert isinstance(conn, psycopg.Connection) and isinstance(tz, ZoneInfo)
    meters, failed, counted = 0, [], []

    def work(key: int) -> None:
        counted.append(rebuild(conn, tz, [key], chunk_days=chunk_days, spans=spans))

    for key in keys:
        with conn.transaction():
            if not one_item(conn, "rollups rebuild", f"meter_key {key}", lambda: work(key)):  # noqa: B023
                failed.append(key)
                continue
        meters += 1
    return meters, sum(counted), failed


def _rollups(args: argparse.Namespace, s: Settings) -> int:
    import time
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import psycopg
    from tqdm import tqdm

    from services.consumption import repository as consumption_repo
    from services.db import libpq_dsn

    with psycopg.connect(libpq_dsn(s.db.url)) as conn:
        if args.meter:
            found = consumption_repo.meter_keys(conn, args.meter)
            missing = sorted(set(args.meter) - set(found))
            if missing:
                print(f"unknown meter(s): {', '.join(missing)}", file=sys.stderr)
                return 2
            keys = sorted(found.values())
        else:
            keys = sorted(consumption_repo.meter_keys(conn, None).values())
        # Every meter's first and last reading in one statement (a statement on the readings hypertable is planned
        # over all its chunks: per meter, that was a good part of a rebuild). A reading stored after this is marked
        # dirty by the ingest as always, and the rollup process recomputes around it; a meter without readings here
        # is looked at again once locked (services/consumption/service.py rebuild).
        spans = consumption_repo.spans(conn, keys)
    t0 = time.perf_counter()
    jobs = max(1, min(args.jobs, len(keys) or 1))
    # small groups of meters, so the bar moves steadily and its ETA means something; each process keeps one
    # connection for all its groups
    groups = [keys[i:i + 10] for i in range(0, len(keys), 10)]
    parts = []
    with tqdm(total=len(keys), desc="rollups rebuild", unit="meter", file=sys.stderr,
              disable=True if args.no_progress else None) as bar:
        if jobs == 1:
            _rebuild_open(s.db.url, s.timezone)
            for g in groups:
                parts.append(_rebuild_meters(g, args.chunk_days, {k: spans[k] for k in g if k in spans}))
                bar.update(len(g))
        else:
            with ProcessPoolExecutor(jobs, initializer=_rebuild_open, initargs=(s.db.url, s.timezone)) as pool:
                futures = {pool.submit(_rebuild_meters, g, args.chunk_days, {k: spans[k] for k in g if k in spans}):
                           len(g) for g in groups}
                for f in as_completed(futures):
                    parts.append(f.result())
                    bar.update(futures[f])
    meters, readings = sum(p[0] for p in parts), sum(p[1] for p in parts)
    failed = sorted(k for p in parts for k in p[2])
    took = time.perf_counter() - t0
    print(f"rollups rebuilt from readings for {meters} meters ({readings} readings, {took:.1f} s, "
          f"{readings / took if took > 0 else 0:.0f} readings/s)")
    if failed:
        print(f"{len(failed)} meter(s) failed and were skipped (meter keys {failed[:20]}); the errors are in "
              "processing_errors and the log", file=sys.stderr)
        return 1
    return 0


def _ingest(args: argparse.Namespace, s: Settings) -> int:
    # The command line is an edge like ingest/ and api/: this command runs an ingest worker under another client id.
    from ingest.reclaim import reclaim
    from services.logs import setup_logging

    setup_logging(s.log_level, as_json=False)
    return reclaim(s, args.client_id, force=args.force)


class _Bar:
    """The progress a connector reports, drawn by tqdm (bar, rate and ETA) on stderr; silent when not a terminal
    unless asked for."""

    def __init__(self, source: str, enabled: bool | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=source, unit="step", disable=True if enabled is False else None,
                        file=sys.stderr, dynamic_ncols=True)

    def __call__(self, total: int | None = None, advance: int = 0, note: str | None = None) -> None:
        if total is not None:
            self.bar.total = total
            self.bar.refresh()
        if note is not None:
            self.bar.set_postfix_str(note[:60], refresh=False)
        if advance:
            self.bar.update(advance)

    def close(self) -> None:
        self.bar.close()


class StageBar:
    """A long job's stages ("validating", "storing", ...), each drawn by tqdm as a bar of rows with rate and ETA on
    stderr; silent when not a terminal unless asked for."""

    def __init__(self, desc: str, enabled: bool | None) -> None:
        self.desc, self.disable = desc, True if enabled is False else None
        self.stage: str | None = None
        self.bar: Any = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=f"{self.desc}: {stage}", unit="row", file=sys.stderr,
                            disable=self.disable, dynamic_ncols=True)
        if total != self.bar.total:
            self.bar.total = total
        if done != self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _sync(args: argparse.Namespace, s: Settings) -> int:
    import getpass
    from datetime import date

    from services.connectors.service import SourceError, SyncOptions, run_source
    from services.logs import setup_logging

    setup_logging(s.log_level, as_json=False)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the progress bar
    try:
        options = SyncOptions(
            backfill=args.backfill, dry_run=args.dry_run, preset=args.preset, items=args.only,
            since=date.fromisoformat(args.since) if args.since else None,
            until=date.fromisoformat(args.until) if args.until else None,
            path=Path(args.file) if args.file else None)
    except ValueError as exc:
        print(f"sync: --since/--until: {exc} (use YYYY-MM-DD)", file=sys.stderr)
        return 2
    if options.since and options.until and options.since >= options.until:
        print(f"sync: --since {options.since} is not before --until {options.until} (until is exclusive)",
              file=sys.stderr)
        return 2
    if options.path is not None and not options.path.is_file():
        print(f"sync: --file: {options.path} is not a readable file", file=sys.stderr)
        return 2
    bar = _Bar(args.source, False if args.no_progress else None)
    try:
        run = run_source(args.source, settings=s, trigger="cli", actor=f"cli:{getpass.getuser()}", options=options,
                         progress=bar)
    except SourceError as exc:
        bar.close()
        print(f"sync: {exc}", file=sys.stderr)
        return 2
    bar.close()
    took = ((run.finished_at or run.started_at) - run.started_at).total_seconds()
    print(f"{run.source}: {run.status}{' (dry run: nothing stored)' if options.dry_run else ''} in {took:.1f} s — "
          f"{run.stored} stored, {run.duplicate} unchanged, {run.revised} revised, {run.rejected} rejected, "
          f"{run.errors} item errors (run {run.id})")
    if run.message:
        print(("error: " if run.status == "failed" else "") + run.message,
              file=sys.stderr if run.status == "failed" else sys.stdout)
    for e in run.detail.get("item_errors", [])[:20]:
        print(f"  {e['item']}: {e['error']}", file=sys.stderr)
    return {"ok": 0, "partial": 1}.get(run.status, 2)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "sync": _sync,
    "rollups": _rollups,
    "broker-sync": _broker_sync,
    "broker-credentials": _broker_credentials,
    "import": _import,
    "token": _token,
    "ingest": _ingest,
}


def build_parser() -> argparse.ArgumentParser:
    from services.auth.schemas import Role
    from services.registry.csv_import import Kind

    p = argparse.ArgumentParser(prog="energiblik", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    bs = sub.add_parser("broker-sync", help="regenerate Mosquitto password/ACL files from the registry and reload")
    bs.add_argument("--no-reload", action="store_true", help="write the files without signalling the broker")
    bc = sub.add_parser("broker-credentials", help="print the broker username and password of a building")
    bc.add_argument("building_id")
    ro = sub.add_parser("rollups", help="rebuild the consumption rollups from the readings (derived data)")
    ro.add_argument("action", choices=["rebuild"])
    ro.add_argument("--meter", action="append", help="only this meter (repeatable); default: all meters")
    ro.add_argument("--jobs", type=int, default=1, help="processes working in parallel (one meter per transaction)")
    ro.add_argument("--chunk-days", type=int, default=31,
                    help="days recomputed per step (larger: fewer round trips for long histories)")
    ro.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on a terminal only)")
    im = sub.add_parser("import", help="import buildings, meters or luminaires from CSV (all rows or none)")
    im.add_argument("kind", choices=[k.value for k in Kind])
    im.add_argument("file", help="CSV file with a header of id plus the API's PUT fields; - reads stdin")
    im.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on a terminal only)")
    tok = sub.add_parser("token", help="create, revoke or list API tokens")
    tsub = tok.add_subparsers(dest="action", required=True)
    tc = tsub.add_parser("create", help="issue a token and print it (shown only once)")
    tc.add_argument("--name", required=True, help="who or what holds the token")
    tc.add_argument("--role", required=True, choices=[r.value for r in Role])
    tc.add_argument("--building", action="append", metavar="BUILDING_ID",
                    help="a facility manager's building; repeat for several")
    tr = tsub.add_parser("revoke", help="revoke a token at once")
    tr.add_argument("id", type=int)
    tsub.add_parser("list", help="list tokens (never their secrets)")
    ing = sub.add_parser("ingest", help="operate the ingest workers' share group")
    isub = ing.add_subparsers(dest="action", required=True)
    rc = isub.add_parser("reclaim", help="drain and end the broker session of an ingest worker that is gone for good "
                                         "(its share of the readings waits there); marks it retired")
    rc.add_argument("client_id", help="the worker's MQTT client id, e.g. energiblik-ingest-2 "
                                      "(GET /api/v1/operations/ingest lists the stranded ones)")
    rc.add_argument("--force", action="store_true",
                    help="also when its heartbeat is fresh or the id is unknown (a running worker is thrown off)")
    sy = sub.add_parser("sync", help="run one connector now (eloverblik, utility, dmi, energidataservice): "
                                     "fetch or read, store through the ingest pipeline, record the run")
    sy.add_argument("source", help="eloverblik | utility | dmi | energidataservice (docs/connectors.md)")
    sy.add_argument("--backfill", action="store_true",
                    help="go back as far as the source's data goes (toward 2015) instead of from the cursor")
    sy.add_argument("--since", metavar="YYYY-MM-DD", help="fetch from this local date (overrides the cursor)")
    sy.add_argument("--until", metavar="YYYY-MM-DD", help="fetch up to this local date (exclusive)")
    sy.add_argument("--dry-run", action="store_true", help="show what would be stored and rejected; store nothing")
    sy.add_argument("--file", metavar="PATH", help="the export file to read (utility)")
    sy.add_argument("--preset", metavar="NAME", help="the export format's preset (utility; docs/connectors.md)")
    sy.add_argument("--only", action="append", metavar="ID",
                    help="only this metering point / item (repeatable)")
    sy.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args, get_settings())


if __name__ == "__main__":
    sys.exit(main())
