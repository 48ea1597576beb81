"""The registry of buildings, meters and luminaires."""
