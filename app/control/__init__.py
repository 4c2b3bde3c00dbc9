"""Control: the supervisor cycle, state machines and schedule triggers.

Command vocabulary — what the supervisor asks of a PlantIO (``Commands.points``: device_id, role, value,
reason). Every PlantIO (Modbus through register maps, or an in-process simulated plant) implements these:

==================  ========================================  ============================================
role                device                                    value
==================  ========================================  ============================================
``enable``          heat pump                                 1 run (space heating or DHW), 0 off
``flow_setpoint``   heat pump                                 °C, space-heating flow (clamped to the unit's
                                                              maximum flow and the circuit limits)
``operating_mode``  heat pump (its writable operating-mode     1 hot water (DHW priority), 0 space heating
                    point)
``dhw_setpoint``    heat pump                                 °C, cylinder setpoint, never below 60 (HSE L8)
``control_mode``    heat pump                                 0 release to the unit's own controller
                                                              (failsafe); BMS control is asserted by the
                                                              driver's preconditions when writing
``boiler_enable``   boiler's ``enable_device`` (I/O module),  1 enabled (fires on its own thermostat), 0 off;
                    else the boiler id                        failsafe: 1 (local enable)
``immersion_enable`` cylinder immersion's ``device``, else    1 on, 0 off
                    the cylinder's heat pump
==================  ========================================  ============================================

Operator inputs — keys the supervisor reads from :class:`app.control.operator.OperatorInputs` each cycle
(the BACnet point keys; absent = relinquished = the controller decides):

- ``{circuit}.flow_setpoint`` °C, replaces the curve (still clamped to circuit and heat pump limits)
- ``{circuit}.flow_setpoint_offset`` K added to the curve (parallel shift), bounded ±10 K
- ``{circuit}.room_setpoint`` °C, occupied room setpoint; ``{circuit}.setback_setpoint`` °C
- ``{circuit}.summer_cutoff`` °C
- ``{cylinder}.storage_setpoint`` °C, refused (and recorded) below 60
- ``{cylinder}.boost_time`` / ``{cylinder}.pasteurise_time`` hours after local midnight;
  ``{cylinder}.pasteurise_day`` 1 (Monday) … 7 (Sunday)
- ``{cylinder}.boost`` / ``{cylinder}.pasteurise_now`` a change to 1 starts that cycle now
- ``{heat_pump}.enable`` 0 takes the unit out of service (the sequencer treats it as unavailable), 1 runs it;
  a command or relinquish resets the supervisor's minimum on/off timers (the unit's own protection stays)
- ``{boiler}.enable`` 0 / 1 overrides the sequencer for that boiler
- ``plant.sequencer_mode`` 0 automatic, 1 heat pump only, 2 boiler only (faults still hand over)

Live values — each cycle's result carries the supervisor's status (:mod:`app.control.status`): sequencer
state and reason, predicted and crossover COP, the tariff period, every machine's state, each cylinder's last
DHW cycle (result and time) and the supervisor's alarms (``l8.{cylinder}``, ``secondary_return.{cylinder}``).
"""
