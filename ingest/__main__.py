"""`energiblik-ingest` / `python -m ingest`: run one ingest worker until SIGTERM."""

from __future__ import annotations

import sys

from ingest.metrics import serve
from ingest.worker import IngestWorker
from services.config import get_settings
from services.logs import setup_logging


def main() -> int:
    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    worker = IngestWorker(s)
    server = None
    if s.ingest.metrics_port:
        server = serve(worker.metrics, s.ingest.metrics_host, s.ingest.metrics_port, worker.health)
    try:
        return worker.run()
    finally:
        if server is not None:
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
