"""Pure decision functions: (inputs, parameters, time) -> intent. No I/O, no wall clock."""
