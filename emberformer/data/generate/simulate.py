"""Rothermel surface fire spread through pyretechnics' level-set solver.

The one place that talks to pyretechnics. Arrays in and out are north-up ([H, W], row 0 =
north); pyretechnics puts row 0 at the SOUTH edge, so rasters are flipped on the way in and out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyretechnics.fuel_models as fuel_models
from pyretechnics.eulerian_level_set import SpreadState, spread_fire_with_phi_field
from pyretechnics.space_time_cube import SpaceTimeCube

from emberformer.data.generate.landscape import Landscape

LB_PER_FT2_TO_KG_PER_M2 = 4.882428
FT_TO_M = 0.3048


@dataclass(frozen=True)
class FuelMoisture:
    """Fuel moistures of one scenario, kg water / kg oven-dry fuel."""

    dead_1hr: float
    dead_10hr: float
    dead_100hr: float
    live_herbaceous: float
    live_woody: float


def fuel_properties(fuel_model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total fuel load (kg/m2) and fuel bed depth (m) of each cell's fuel model, from pyretechnics'
    own fuel-model table, so that a model sees fuel as physical quantities rather than codes."""
    load = np.zeros(fuel_model.shape, dtype=np.float32)
    depth = np.zeros(fuel_model.shape, dtype=np.float32)
    for code in np.unique(fuel_model):
        props = fuel_models.get_fuel_model(int(code))
        cells = fuel_model == code
        load[cells] = sum(props["w_o"]) * LB_PER_FT2_TO_KG_PER_M2
        depth[cells] = props["delta"] * FT_TO_M
    return load, depth


def _north_down(grid: np.ndarray) -> np.ndarray:
    """North-up raster -> pyretechnics' orientation (row 0 = south), C-contiguous float32."""
    return np.ascontiguousarray(grid[::-1], dtype=np.float32)


def simulate_burned_area(landscape: Landscape, moisture: FuelMoisture, wind_speed: np.ndarray,
                         wind_from: np.ndarray, ignitions: list[tuple[int, int]],
                         step_minutes: float) -> np.ndarray:
    """Burned area (cumulative, bool [n, H, W], north-up) at the end of each of n time steps.

    wind_speed (km/h at 10 m) and wind_from (degrees, where the wind comes FROM) hold one value
    per step, held constant during it. ignitions are (row, col) north-up cells lit at time 0.
    Surface fire only (no canopy), no spotting: the result is deterministic.
    """
    h, w = landscape.shape
    n = len(wind_speed)
    shape = (n, h, w)

    def constant(value: float) -> SpaceTimeCube:
        return SpaceTimeCube(shape, np.float32(value))

    cubes = {
        "slope": SpaceTimeCube(shape, _north_down(landscape.slope)),
        "aspect": SpaceTimeCube(shape, _north_down(np.nan_to_num(landscape.aspect, nan=0.0))),
        "fuel_model": SpaceTimeCube(shape, _north_down(landscape.fuel_model)),
        "canopy_cover": constant(0.0),
        "canopy_height": constant(0.0),
        "canopy_base_height": constant(0.0),
        "canopy_bulk_density": constant(0.0),
        "wind_speed_10m": SpaceTimeCube(shape, np.ascontiguousarray(wind_speed, dtype=np.float32)),
        "upwind_direction": SpaceTimeCube(shape, np.ascontiguousarray(wind_from, dtype=np.float32)),
        "fuel_moisture_dead_1hr": constant(moisture.dead_1hr),
        "fuel_moisture_dead_10hr": constant(moisture.dead_10hr),
        "fuel_moisture_dead_100hr": constant(moisture.dead_100hr),
        "fuel_moisture_live_herbaceous": constant(moisture.live_herbaceous),
        "fuel_moisture_live_woody": constant(moisture.live_woody),
        "foliar_moisture": constant(1.0),  # only used by crown fire, which has no canopy here
    }
    state = SpreadState(shape)
    for row, col in ignitions:
        state.ignite_cell((h - 1 - row, col))
    cell = float(landscape.cell_size)
    result = spread_fire_with_phi_field(cubes, state, (float(step_minutes), cell, cell), 0.0,
                                        n * float(step_minutes))
    arrival = result["spread_state"].get_full_matrices(["time_of_arrival"])["time_of_arrival"][::-1]
    ends = step_minutes * np.arange(1, n + 1, dtype=np.float64)
    # time_of_arrival is NaN where the fire never arrived; NaN <= t is False.
    return arrival[None] <= ends[:, None, None] + 1e-3
