"""Energiblik's domain core: the data model, the rules and all SQL.

"services" means domain services (readings, registry, ...), not containers or daemons.
"""
