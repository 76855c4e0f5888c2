"""Building hardware simulators: meters, thermometers and the payloads they publish."""
