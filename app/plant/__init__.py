"""Plant simulation physics: building, emitters, heat pump, boiler, DHW cylinder, weather."""
