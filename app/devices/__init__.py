"""Devices: register-map schema and loader, the Modbus driver, the Modbus simulator, the PlantIO seam."""
