"""The `energiblik` command: operations that are not part of a long-running process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from services.config import Settings, get_settings
from services.db import get_engine


def _broker_sync(args: argparse.Namespace, s: Settings) -> int:
    from services.broker.service import sync_files

    b = s.broker
    if b.password_file is None or b.acl_file is None or b.secret is None or s.mqtt.password is None:
        print("broker-sync needs ENERGIBLIK_BROKER__PASSWORD_FILE, __ACL_FILE, __SECRET and ENERGIBLIK_MQTT__PASSWORD",
              file=sys.stderr)
        return 2
    with get_engine().connect() as conn:
        n = sync_files(
            conn,
            password_file=b.password_file,
            acl_file=b.acl_file,
            secret=b.secret.get_secret_value(),
            ingest_username=b.ingest_username,
            ingest_password=s.mqtt.password.get_secret_value(),
            topic_prefix=s.mqtt.topic_prefix,
            pid_file=None if args.no_reload else b.pid_file,
        )
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


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "broker-sync": _broker_sync,
    "broker-credentials": _broker_credentials,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="energiblik", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    bs = sub.add_parser("broker-sync", help="regenerate Mosquitto password/ACL files from the registry and reload")
    bs.add_argument("--no-reload", action="store_true", help="write the files without signalling the broker")
    bc = sub.add_parser("broker-credentials", help="print the broker username and password of a building")
    bc.add_argument("building_id")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args, get_settings())


if __name__ == "__main__":
    sys.exit(main())
