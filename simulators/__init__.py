"""Entry points that stand in for physical meters, luminaires and gateways."""
