"""In-situ COP monitoring: heat-meter maths, counters, figures from instant to seasonal, alarms."""
