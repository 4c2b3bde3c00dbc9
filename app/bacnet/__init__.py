"""BACnet/IP device: the point table generated from the site, priority-array writes, COV, alarms, trend logs."""
