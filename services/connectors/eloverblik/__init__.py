"""Eloverblik (DataHub) third-party API: electricity of the municipality's metering points (GSRN) as interval
readings. parse.py reads the documented answers, client.py talks to the API, source.py is the 'eloverblik' source.
docs/connectors.md, "Eloverblik (DataHub)"."""

from services.connectors.eloverblik.source import EloverblikSource
from services.connectors.service import register

register("eloverblik", EloverblikSource)

__all__ = ["EloverblikSource"]
