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
class Spotting:
    """Ember lofting through pyretechnics' spot-fire model (`spot_config` of
    spread_fire_with_phi_field): firebrands are produced in proportion to the heat a burning cell
    releases, fly a lognormal distance downwind (mean downwind_distance_mean * I^a * U^b), and
    ignite a burnable cell with Schroeder's probability (air temperature, 1-h fuel moisture)."""

    random_seed: int
    temperature: float                    # air temperature, degrees Celsius
    firebrands_per_unit_heat: float = 5e-10   # firebrands / kJ
    downwind_distance_mean: float = 10.0      # m, scaled by I^0.3 (kW/m) and U^0.55 (m/s)
    fireline_intensity_exponent: float = 0.3
    wind_speed_exponent: float = 0.55
    downwind_variance_mean_ratio: float = 425.0  # m^2 / m
    crosswind_distance_stdev: float = 100.0       # m
    decay_distance: float = 300.0                 # m

    def spot_config(self) -> dict:
        return {"random_seed": int(self.random_seed),
                **{k: float(getattr(self, k)) for k in (
                    "firebrands_per_unit_heat", "downwind_distance_mean", "fireline_intensity_exponent",
                    "wind_speed_exponent", "downwind_variance_mean_ratio", "crosswind_distance_stdev",
                    "decay_distance")}}


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
                         step_minutes: float, spotting: Spotting | None = None,
                         foliar_moisture: float = 1.0) -> np.ndarray:
    """Burned area (cumulative, bool [n, H, W], north-up) at the end of each of n time steps.

    wind_speed (km/h at 10 m) and wind_from (degrees, where the wind comes FROM) hold one value
    per step, held constant during it. ignitions are (row, col) north-up cells lit at time 0.
    Crown fire (passive/active, Van Wagner / Cruz) is on where landscape.canopy is set (else no
    canopy: surface fire only); spotting is on when `spotting` is given (seeded: still
    deterministic). foliar_moisture (kg/kg) only matters with a canopy.
    """
    h, w = landscape.shape
    n = len(wind_speed)
    shape = (n, h, w)

    def constant(value: float) -> SpaceTimeCube:
        return SpaceTimeCube(shape, np.float32(value))

    if landscape.canopy is None:
        canopy = [constant(0.0) for _ in range(4)]
    else:
        canopy = [SpaceTimeCube(shape, _north_down(layer)) for layer in landscape.canopy]
    cubes = {
        "slope": SpaceTimeCube(shape, _north_down(landscape.slope)),
        "aspect": SpaceTimeCube(shape, _north_down(np.nan_to_num(landscape.aspect, nan=0.0))),
        "fuel_model": SpaceTimeCube(shape, _north_down(landscape.fuel_model)),
        "canopy_cover": canopy[0],
        "canopy_height": canopy[1],
        "canopy_base_height": canopy[2],
        "canopy_bulk_density": canopy[3],
        "wind_speed_10m": SpaceTimeCube(shape, np.ascontiguousarray(wind_speed, dtype=np.float32)),
        "upwind_direction": SpaceTimeCube(shape, np.ascontiguousarray(wind_from, dtype=np.float32)),
        "fuel_moisture_dead_1hr": constant(moisture.dead_1hr),
        "fuel_moisture_dead_10hr": constant(moisture.dead_10hr),
        "fuel_moisture_dead_100hr": constant(moisture.dead_100hr),
        "fuel_moisture_live_herbaceous": constant(moisture.live_herbaceous),
        "fuel_moisture_live_woody": constant(moisture.live_woody),
        "foliar_moisture": constant(foliar_moisture),  # only used by crown fire
    }
    options = {}
    if spotting is not None:
        cubes["temperature"] = constant(spotting.temperature)
        options = {"spot_ignitions": {}, "spot_config": spotting.spot_config()}
    state = SpreadState(shape)
    for row, col in ignitions:
        state.ignite_cell((h - 1 - row, col))
    cell = float(landscape.cell_size)
    result = spread_fire_with_phi_field(cubes, state, (float(step_minutes), cell, cell), 0.0,
                                        n * float(step_minutes), **options)
    arrival = result["spread_state"].get_full_matrices(["time_of_arrival"])["time_of_arrival"][::-1]
    ends = step_minutes * np.arange(1, n + 1, dtype=np.float64)
    # time_of_arrival is NaN where the fire never arrived; NaN <= t is False.
    return arrival[None] <= ends[:, None, None] + 1e-3
