"""Heat-meter maths: thermal power from volume flow and the flow/return temperature difference.

EN 1434-1 defines the heat coefficient k(θf, θr) so that Q̇ = V̇ · k · Δθ. With the volume measured at
the meter's own pipe (flow or return), k = ρ(θ_meter) · c_p(θ_mean) to within the accuracy of the
enthalpy difference, which is what this module computes for water or an aqueous glycol.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.monitoring.fluids import Fluid, density_kg_m3, specific_heat_j_kgk

MeterPipe = Literal["flow", "return"]


def thermal_power_w(
    flow_rate_m3h: ArrayLike,
    flow_temp_c: ArrayLike,
    return_temp_c: ArrayLike,
    fluid: Fluid,
    meter_pipe: MeterPipe = "return",
) -> NDArray[np.float64]:
    """Heat delivered, W: V̇ · ρ(θ at the volume meter) · c_p(mean θ) · (θ_flow − θ_return).

    Negative when the return is warmer than the flow (defrost drawing heat back from the system).
    """
    v = np.asarray(flow_rate_m3h, dtype=float) / 3600.0
    tf = np.asarray(flow_temp_c, dtype=float)
    tr = np.asarray(return_temp_c, dtype=float)
    rho = density_kg_m3(fluid, tr if meter_pipe == "return" else tf)
    cp = specific_heat_j_kgk(fluid, 0.5 * (tf + tr))
    return v * rho * cp * (tf - tr)
