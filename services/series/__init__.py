"""Read access to stored time series: meter readings, their revisions, luminaire telemetry."""
