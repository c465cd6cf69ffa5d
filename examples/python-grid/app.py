"""python-grid: a Carbonaut environment provider written in Python.

It answers the yearly average carbon intensity of a country's electricity from grid.json, a
table shipped with the plugin (Ember's data, CC BY-SA 4.0: see NOTICE). componentize-py runs
this module's top level once at build time and snapshots the result, so the table is parsed
when the component is built, not on every call, and the plugin needs no file access at run
time.
"""

import calendar
import json
import pathlib
from typing import Dict, List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.carbonaut_provider_types import (
    CapabilityNeeds,
    EmissionFactorType,
    EnergyMix,
    LocationQuery,
    PluginMetadata,
    ProviderError_BadConfig,
    ProviderKind,
    SettingSpec,
)

NAME = "python-grid"
VERSION = "0.1.0"

# Read at build time (see the module docstring): {"DE": {"gco2_per_kwh": 342.06, "year": 2024, ...}}
TABLE: Dict[str, dict] = json.loads(
    (pathlib.Path(__file__).parent / "grid.json").read_text(encoding="utf-8")
)


def setting(settings: List[Tuple[str, str]], key: str) -> Optional[str]:
    """The value of `key` in the operator's settings, or None."""
    for k, v in settings:
        if k == key:
            return v
    return None


def start_of_year_ms(year: int) -> int:
    """Milliseconds since the Unix epoch at 1 January of `year`, UTC: when a yearly average
    starts to hold."""
    return calendar.timegm((year, 1, 1, 0, 0, 0, 0, 1, 0)) * 1000


def overrides(settings: List[Tuple[str, str]]) -> Dict[str, float]:
    """Parses the `overrides` setting, `DE=300,FR=52.5`: the operator's own figures in
    gCO2eq/kWh, which replace the table's for those countries."""
    raw = setting(settings, "overrides")
    result: Dict[str, float] = {}
    if not raw:
        return result
    for part in raw.split(","):
        code, sep, value = part.strip().partition("=")
        try:
            grams = float(value)
        except ValueError:
            grams = -1.0
        if not sep or len(code.strip()) != 2 or not grams >= 0.0:
            # A bad setting is permanent until the operator fixes it: bad-config, not retryable.
            raise Err(
                ProviderError_BadConfig(
                    f"setting `overrides` must look like `DE=300,FR=52.5`, got `{part.strip()}`"
                )
            )
        result[code.strip().upper()] = grams
    return result


class Metadata(exports.Metadata):
    def metadata(self) -> PluginMetadata:
        return PluginMetadata(
            name=NAME,
            version=VERSION,
            description="Yearly average grid carbon intensity per country (Ember, CC BY-SA 4.0), "
            "written in Python.",
            kinds=[ProviderKind.ENVIRONMENT],
            settings=[
                SettingSpec(
                    key="fallback_country",
                    description="Country (ISO alpha-2) to answer for locations without one",
                    required=False,
                    secret=False,
                ),
                SettingSpec(
                    key="overrides",
                    description="Your own figures in gCO2eq/kWh, e.g. `DE=300,FR=52.5`",
                    required=False,
                    secret=False,
                ),
            ],
            # No network, no files, no key-value store: everything is in the component.
            needs=CapabilityNeeds(http=[], read_only_dirs=[], key_value=False),
        )


class Environment(exports.Environment):
    def collect(
        self, settings: List[Tuple[str, str]], locations: List[LocationQuery]
    ) -> List[EnergyMix]:
        fallback = setting(settings, "fallback_country")
        if fallback is not None and fallback.strip().upper() not in TABLE:
            raise Err(
                ProviderError_BadConfig(
                    f"setting `fallback_country` is `{fallback}`, not a country in the table"
                )
            )
        mine = overrides(settings)
        mixes: List[EnergyMix] = []
        for query in locations:
            # The operator's grid-zone mapping wins over the resource's own country.
            code = query.grid_zone or query.location.country or fallback
            if code is None:
                continue
            code = code.strip().upper()
            row = TABLE.get(code)
            if code in mine:
                grams, valid_at = mine[code], 0
            elif row is not None:
                grams, valid_at = row["gco2_per_kwh"], start_of_year_ms(row["year"])
            else:
                # Unknown locations are left out, as the contract says; the host reports them.
                continue
            mixes.append(
                EnergyMix(
                    location_id=query.id,
                    carbon_intensity=grams,
                    # Ember's intensities use IPCC lifecycle emission factors.
                    emission_factor=EmissionFactorType.LIFECYCLE,
                    shares=[],
                    valid_at=valid_at,
                    estimated=True,
                )
            )
        log.log(
            log.Level.DEBUG,
            "answered a batch of locations",
            [("asked", str(len(locations))), ("answered", str(len(mixes)))],
        )
        return mixes
