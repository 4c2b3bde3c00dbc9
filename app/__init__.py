"""hp-supervisor: heat pump supervisory controller beside a building's BMS outstation."""

__version__ = "0.1.0"
