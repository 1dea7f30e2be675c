"""The 23 bands of a WildfireSpreadTS day, by position, and the feature sets WSTS and WSTS+ compare.

The release's band descriptions are not a reliable key (band 17's changes with the date: the GEE
export dropped a rename), so bands are read by position; the names below are this project's, the
release's descriptions and WSTS's own names are kept beside them for people looking one up.
"""

from __future__ import annotations

from dataclasses import dataclass

from emberformer.errors import ConfigError


@dataclass(frozen=True)
class Band:
    index: int
    name: str            # this project's name (banner, configs)
    description: str     # the band description in the released GeoTIFFs
    group: str           # the feature group WSTS's experiments switch on and off
    kind: str            # value | compass | axis | classes | detections (how it becomes features)
    static: bool         # the same on every day of a fire (terrain, land cover)
    unit: str


BANDS = (
    Band(0, "viirs_m11", "M11", "vegetation", "value", False, "reflectance x 1e4"),
    Band(1, "viirs_i2", "I2", "vegetation", "value", False, "reflectance x 1e4"),
    Band(2, "viirs_i1", "I1", "vegetation", "value", False, "reflectance x 1e4"),
    Band(3, "ndvi", "NDVI_last", "vegetation", "value", False, "x 1e4"),
    Band(4, "evi2", "EVI2_last", "vegetation", "value", False, "x 1e4"),
    Band(5, "precipitation", "total precipitation", "weather", "value", False, "mm/day"),
    Band(6, "wind_speed", "wind speed", "weather", "value", False, "m/s"),
    Band(7, "wind_from", "wind direction", "weather", "compass", False, "degrees clockwise from north"),
    Band(8, "temperature_min", "minimum temperature", "weather", "value", False, "K"),
    Band(9, "temperature_max", "maximum temperature", "weather", "value", False, "K"),
    Band(10, "energy_release", "energy release component", "erc_drought", "value", False, "NFDRS index"),
    Band(11, "specific_humidity", "specific humidity", "weather", "value", False, "kg/kg"),
    Band(12, "slope", "slope", "topography", "value", True, "degrees"),
    Band(13, "aspect", "aspect", "topography", "compass", True, "degrees clockwise from north"),
    Band(14, "elevation", "elevation", "topography", "value", True, "m"),
    Band(15, "pdsi", "pdsi", "erc_drought", "value", False, "Palmer drought severity index"),
    Band(16, "land_cover", "LC_Type1", "landcover", "classes", True, "IGBP class 1-17"),
    Band(17, "forecast_precipitation", "total_precipitation_surface_last", "forecast", "value", False, "mm"),
    Band(18, "forecast_wind_speed", "forecast wind speed", "forecast", "value", False, "m/s"),
    # atan(v/u) in degrees in the release: an axis (-90..90, counter-clockwise from east), the
    # quadrant lost; atan2 data (-180..180) after the dataset code's 2026 fix (features.py tells them apart).
    Band(19, "forecast_wind_dir", "forecast wind direction", "forecast", "axis", False, "degrees from east"),
    Band(20, "forecast_temperature", "forecast temperature", "forecast", "value", False, "degrees C"),
    Band(21, "forecast_specific_humidity", "forecast specific humidity", "forecast", "value", False, "kg/kg"),
    Band(22, "active_fire", "active fire", "active_fire", "detections", False, "VIIRS detection time hhmm, NaN: none"),
)
N_BANDS = len(BANDS)
ACTIVE_FIRE = 22
LAND_COVER_CLASSES = 17  # IGBP classes 1..17
GROUPS = ("vegetation", "weather", "erc_drought", "topography", "landcover", "forecast")
# The feature sets of WSTS's experiments (its paper's tables 3-5) and WSTS+'s, by group; the active
# fire is always in. "multi" is table 5's "vegetation, land cover, topography, weather".
FEATURE_SETS = {
    "all": GROUPS,
    "vegetation": ("vegetation",),
    "multi": ("vegetation", "landcover", "topography", "weather"),
    **{group: (group,) for group in GROUPS},
    "none": (),
}


def feature_groups(features) -> tuple[str, ...]:
    """`data.features` (a FEATURE_SETS name, or a list of group names) as the groups it switches on."""
    if isinstance(features, str):
        if features not in FEATURE_SETS:
            raise ConfigError(f"data.features={features} is not a feature set; choose one of "
                              f"{', '.join(FEATURE_SETS)} or a list of groups from {', '.join(GROUPS)}")
        return FEATURE_SETS[features]
    groups = tuple(str(g) for g in features)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ConfigError(f"data.features: {unknown[0]!r} is not a band group; groups: {', '.join(GROUPS)}")
    return tuple(g for g in GROUPS if g in groups)


def selected_bands(features) -> tuple[Band, ...]:
    """The bands a feature set reads, in band order (the active fire always)."""
    groups = set(feature_groups(features)) | {"active_fire"}
    return tuple(b for b in BANDS if b.group in groups)
