"""Control: the supervisor cycle, state machines and schedule triggers."""
