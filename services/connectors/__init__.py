"""Connectors: data that does not arrive over MQTT (Eloverblik/DataHub, utility exports, DMI degree days, Energi
Data Service hourly CO2), taken in through the same ingest pipeline as MQTT readings. docs/connectors.md."""
