"""Utility exports (district heating, gas, water, electricity) read from CSV/xlsx files with a column mapping:
the Source named 'utility'. docs/connectors.md, "Utility exports"."""

from services.connectors.service import register
from services.connectors.utility.service import UtilitySource

register("utility", UtilitySource)

__all__ = ["UtilitySource"]
