"""Heat-transfer fluid properties: density and specific heat of water and aqueous glycols.

A heat meter turns volume flow and a temperature difference into heat; the density and the specific
heat it uses must be those of the fluid actually in the loop, or every reading carries a fixed offset
(a 25 % propylene glycol loop read as water over-states heat by 3–4 %).

- Water: IAPWS-95 (Wagner & Pruß, J. Phys. Chem. Ref. Data 31, 387 (2002)), tabulated every 5 K from
  0 to 100 °C at 0.3 MPa and interpolated linearly (interpolation error below 0.02 %).
- Aqueous propylene glycol (MPG) and ethylene glycol (MEG): the polynomial correlations of Melinder,
  "Properties of Secondary Working Fluids for Indirect Systems", IIR (2010):
  ``f(x, t) = Σ c_ij (x − x_m)^i (t − t_m)^j`` with x the mass fraction in %, t in °C, i ≤ 5, j ≤ 3,
  i + j ≤ 5; valid for 0–60 % by mass from the freezing point to 100 °C.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

FluidKind = Literal["water", "propylene_glycol", "ethylene_glycol"]

_WATER_T_C = np.arange(0.0, 101.0, 5.0)
_WATER_RHO_KG_M3 = np.array([
    999.944, 1000.064, 999.797, 999.195, 998.298, 997.137, 995.738, 994.121, 992.304, 990.300, 988.122,
    985.780, 983.283, 980.638, 977.852, 974.931, 971.879, 968.701, 965.401, 961.980, 958.442,
])
_WATER_CP_J_KGK = np.array([
    4218.5, 4204.2, 4194.4, 4187.8, 4183.4, 4180.7, 4179.3, 4178.7, 4178.9, 4179.7, 4180.9,
    4182.5, 4184.5, 4186.9, 4189.6, 4192.8, 4196.3, 4200.3, 4204.8, 4209.7, 4215.2,
])

# Melinder (2010) coefficients, rows ordered (i, j) = (0,0) (0,1) (0,2) (0,3) (1,0) … (4,1) (5,0),
# i the power of (x − x_m), j the power of (t − t_m); columns: density kg/m³, specific heat J/(kg·K).
_MELINDER_IJ = [(i, j) for i in range(6) for j in range(4) if i + j <= 5]
_MELINDER: dict[str, tuple[float, float, NDArray[np.float64]]] = {
    "propylene_glycol": (30.7031, 32.7083, np.array([
        [1018, 3882], [-0.5406, 2.699], [-0.002666, -0.001659], [0.00001347, -0.00001032],
        [0.7604, -13.04], [-0.00945, 0.0507], [0.00005541, -0.00004752], [-0.0000001343, 0.000001522],
        [-0.002498, -0.1598], [0.000027, 0.00009534], [-0.0000004018, 0.00001167],
        [0.000000003376, -0.0000000487],
        [-0.000155, 0.0003539], [0.000002829, 0.00003102], [-0.000000007175, -0.000000295],
        [-0.000001131, 0.00005], [-0.00000002221, -0.0000007135],
        [0.00000002342, -0.0000004959],
    ])),
    "ethylene_glycol": (30.8462, 31.728, np.array([
        [1034, 3737], [-0.4781, 2.93], [-0.002692, -0.004675], [0.000004725, -0.00001389],
        [1.311, -17.99], [-0.006876, 0.1046], [0.00004805, -0.0004147], [0.0000000169, 0.0000001847],
        [0.0000749, -0.09933], [0.00007855, 0.0003516], [-0.0000003995, 0.000005109],
        [0.000000004982, -0.00000007138],
        [-0.0001062, 0.00261], [0.000001229, -0.000001189], [-0.00000001153, -0.0000001643],
        [-0.0000009623, 0.00001537], [-0.00000007211, -0.0000004272],
        [0.00000004891, -0.000001618],
    ])),
}
MAX_GLYCOL_MASS_FRACTION = 0.6


@dataclass(frozen=True)
class Fluid:
    """The loop fluid: water, or an aqueous glycol at a mass fraction (0–0.6)."""

    kind: FluidKind = "water"
    mass_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("water", *_MELINDER):
            raise ValueError(
                f"fluid kind {self.kind!r} is not one of water, propylene_glycol, ethylene_glycol"
            )
        if self.kind == "water" and self.mass_fraction != 0.0:
            raise ValueError(f"water takes no glycol mass fraction (got {self.mass_fraction})")
        if not 0.0 <= self.mass_fraction <= MAX_GLYCOL_MASS_FRACTION:
            raise ValueError(
                f"glycol mass fraction {self.mass_fraction} outside 0–{MAX_GLYCOL_MASS_FRACTION} "
                "(Melinder range)"
            )

    @classmethod
    def parse(cls, text: str) -> Fluid:
        """``water``, ``propylene_glycol:25%`` / ``propylene_glycol:0.25`` or ``ethylene_glycol:30%``."""
        m = re.fullmatch(r"\s*([a-z_]+)\s*(?::\s*([0-9.]+)\s*(%?)\s*)?", text.lower())
        if not m:
            raise ValueError(f"fluid {text!r}: expected KIND or KIND:FRACTION, e.g. propylene_glycol:25%")
        kind, number, percent = m.groups()
        fraction = 0.0 if number is None else float(number) / (100.0 if percent else 1.0)
        return cls(kind, fraction)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.kind if self.kind == "water" else f"{self.kind}:{self.mass_fraction * 100:g}%"


def _melinder(fluid: Fluid, t_c: NDArray[np.float64], column: int) -> NDArray[np.float64]:
    x_m, t_m, coeffs = _MELINDER[fluid.kind]
    dx = fluid.mass_fraction * 100.0 - x_m
    dt = t_c - t_m
    out = np.zeros_like(t_c)
    for (i, j), c in zip(_MELINDER_IJ, coeffs[:, column], strict=True):
        out += c * dx**i * dt**j
    return out


def density_kg_m3(fluid: Fluid, t_c: ArrayLike) -> NDArray[np.float64]:
    """Density of the fluid at temperature ``t_c`` (°C), kg/m³."""
    t = np.asarray(t_c, dtype=float)
    if fluid.kind == "water" or fluid.mass_fraction == 0.0:
        return np.interp(t, _WATER_T_C, _WATER_RHO_KG_M3)
    return _melinder(fluid, t, 0)


def specific_heat_j_kgk(fluid: Fluid, t_c: ArrayLike) -> NDArray[np.float64]:
    """Isobaric specific heat of the fluid at temperature ``t_c`` (°C), J/(kg·K)."""
    t = np.asarray(t_c, dtype=float)
    if fluid.kind == "water" or fluid.mass_fraction == 0.0:
        return np.interp(t, _WATER_T_C, _WATER_CP_J_KGK)
    return _melinder(fluid, t, 1)
