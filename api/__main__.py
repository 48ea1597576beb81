"""`energiblik-api` / `python -m api`: serve the API with uvicorn on ENERGIBLIK_API_HOST:ENERGIBLIK_API_PORT."""

from __future__ import annotations

import os

import uvicorn

from api import metrics
from api.app import create_app
from services.config import get_settings
from services.logs import setup_logging


def main() -> None:
    s = get_settings()
    setup_logging(s.log_level, s.log_json)
    host = os.environ.get("ENERGIBLIK_API_HOST", "127.0.0.1")
    port = int(os.environ.get("ENERGIBLIK_API_PORT", "8000"))
    metrics.serve(s.api_metrics_host, s.api_metrics_port)
    # log_config=None keeps our structured logging for uvicorn's own loggers too.
    uvicorn.run(create_app(), host=host, port=port, log_config=None, proxy_headers=False)


if __name__ == "__main__":
    main()
