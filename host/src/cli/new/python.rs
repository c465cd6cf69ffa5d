//! The Python skeleton: `app.py` (componentize-py), `build.sh` and a README.

use super::{File, Kind, Skeleton, readme_tail};

const HEADER: &str = r#""""@NAME@: a Carbonaut provider plugin written in Python (@KINDS@).

Build it with ./build.sh (componentize-py), check it with `carbonaut plugin check @NAME@.wasm`.

A failure is returned by raising `Err(case)`, with a case of provider-error:
`t.ProviderError_BadConfig("why")` for settings the operator must fix (not retried),
`t.ProviderError_Unauthorized("why")` for refused credentials, and
`t.ProviderError_Unavailable(t.UnavailableError(message="why", retry_after_ms=60_000))` for a
temporary failure (the host retries later).
"""

import math
import time
from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import carbonaut_provider_types as t
from wit_world.imports import log

NAME = "@NAME@"
VERSION = "0.1.0"


def setting(settings: List[Tuple[str, str]], key: str) -> Optional[str]:
    """The value of `key` in the operator's settings, or None."""
    for k, v in settings:
        if k == key:
            return v
    return None


def now_ms() -> int:
    return int(time.time() * 1000)


class Metadata(exports.Metadata):
    def metadata(self) -> t.PluginMetadata:
        return t.PluginMetadata(
            name=NAME,
            version=VERSION,
            description="Describe in one sentence what this plugin reads.",
            kinds=[@KIND_LIST@],
            settings=[
                t.SettingSpec(
                    key="example",
                    description="An example setting; `fail` makes every call fail as bad-config",
                    required=False,
                    secret=False,
                ),
            ],
            # Ask only for what you use; the operator grants at most this. For example
            # http=["https://api.example.com"], read_only_dirs=["/sys/class/powercap"].
            needs=t.CapabilityNeeds(http=[], read_only_dirs=[], key_value=False),
        )


def check_settings(settings: List[Tuple[str, str]]) -> None:
    if setting(settings, "example") == "fail":
        raise Err(t.ProviderError_BadConfig("setting `example` is `fail`"))
"#;

const DISCOVERY: &str = r#"

class Discovery(exports.Discovery):
    def list_projects(
        self, settings: List[Tuple[str, str]], account: t.Account
    ) -> List[t.Project]:
        check_settings(settings)
        log.log(log.Level.DEBUG, "listing projects", [("account", account.name)])
        # Ids must be stable across calls: the host keys its state on them.
        return [t.Project(id="default", name="default", labels=[])]

    def list_resources(
        self, settings: List[Tuple[str, str]], account: t.Account, project: t.Project
    ) -> List[t.ResourceInfo]:
        check_settings(settings)
        return [
            t.ResourceInfo(
                id=f"{project.id}/machine-1",
                name="machine-1",
                kind=t.ResourceKind.HOST,
                location=t.Location(
                    cloud=None,
                    country="DE",
                    region=None,
                    zone=None,
                    grid_zone=None,
                    coordinates=None,
                ),
                hardware=t.Hardware(
                    vcpus=4,
                    memory_bytes=16 * 2**30,
                    cpu_model=None,
                    instance_type=None,
                    gpu_count=None,
                    gpu_model=None,
                ),
                labels=[("team", "example")],
            )
        ]
"#;

const RESOURCE_METRICS: &str = r#"

class ResourceMetrics(exports.ResourceMetrics):
    def collect(
        self,
        settings: List[Tuple[str, str]],
        account: t.Account,
        resources: List[t.ResourceInfo],
    ) -> List[t.ResourceSample]:
        check_settings(settings)
        # One call gets the whole batch: read them together, return one sample per resource
        # you have a reading for. Energy is a cumulative counter in joules, power in watts.
        read_at = now_ms()
        return [
            t.ResourceSample(
                resource_id=r.id,
                energy_joules=None,
                power_watts=50.0,
                cpu_frequency_hertz=None,
                cpu_utilization_ratio=0.25,
                read_at=read_at,
                estimated=True,
                components=[],
            )
            for r in resources
        ]
"#;

const ENVIRONMENT: &str = r#"

# Ember's 2024 yearly averages in gCO2eq/kWh (CC BY-SA 4.0), as an example table.
INTENSITY = {"DE": 342.06, "FR": 44.18}


class Environment(exports.Environment):
    def collect(
        self, settings: List[Tuple[str, str]], locations: List[t.LocationQuery]
    ) -> List[t.EnergyMix]:
        check_settings(settings)
        mixes = []
        for q in locations:
            code = q.grid_zone or q.location.country
            if code not in INTENSITY:
                continue  # leave out locations you know nothing about
            mixes.append(
                t.EnergyMix(
                    location_id=q.id,  # echo the query's id
                    carbon_intensity=INTENSITY[code],
                    emission_factor=t.EmissionFactorType.LIFECYCLE,
                    shares=[],
                    valid_at=now_ms(),
                    estimated=True,
                    zone=None,
                )
            )
        return mixes

    def forecast(
        self, settings: List[Tuple[str, str]], locations: List[t.LocationQuery]
    ) -> List[t.IntensityForecast]:
        return []  # no forecasts: the host then has none for these locations
"#;

const ESTIMATION: &str = r#"

# A sample model, to show the shape of an answer: CPU power between an idle and a full-load
# figure per vCPU (near Cloud Carbon Footprint's cloud averages), DRAM power per GiB, and a
# share by vCPUs of a typical two-socket server's manufacturing emissions. A real model goes
# here: coefficients per instance type or CPU model (see plugins/ccf in the Carbonaut
# repository), measured load curves, your own racks' figures.
IDLE_WATTS_PER_VCPU = 0.75
FULL_WATTS_PER_VCPU = 3.5
DRAM_WATTS_PER_GIB = 0.375
ASSUMED_UTILIZATION = 0.5  # when the host has no reading of the resource
MACHINE_GRAMS = 1_200_000.0  # TE: the whole machine's manufacturing emissions
MACHINE_VCPUS = 64


def estimate_one(item: t.EstimationInput) -> Optional[t.ResourceEstimate]:
    """One resource's estimate; None for a resource the model knows nothing about (the host
    then shows it without one rather than guessing)."""
    vcpus = item.info.hardware.vcpus
    if not vcpus:
        return None
    measured = item.sample.cpu_utilization_ratio if item.sample else None
    if measured is not None and not math.isfinite(measured):
        measured = None
    utilization = min(max(ASSUMED_UTILIZATION if measured is None else measured, 0.0), 1.0)
    cpu = vcpus * (
        IDLE_WATTS_PER_VCPU + (FULL_WATTS_PER_VCPU - IDLE_WATTS_PER_VCPU) * utilization
    )
    power = [t.ComponentPower(component=t.Component.CPU, watts=cpu)]
    if item.info.hardware.memory_bytes is not None:
        gib = item.info.hardware.memory_bytes / 2**30
        power.append(
            t.ComponentPower(component=t.Component.DRAM, watts=gib * DRAM_WATTS_PER_GIB)
        )
    assumed = " assumed" if measured is None else ""
    return t.ResourceEstimate(
        resource_id=item.info.id,  # echo the input's id
        power=power,
        embodied=t.EmbodiedShare(
            machine_grams=MACHINE_GRAMS,
            share=min(vcpus / MACHINE_VCPUS, 1.0),  # above 0 and at most 1
            # None: the host's `[footprint] lifetime_hours` (four years by default).
            lifetime_hours=None,
        ),
        basis=f"sample model: {vcpus} vCPUs at {utilization * 100:.0f} % CPU{assumed}",
    )


class Estimation(exports.Estimation):
    def estimate(
        self, settings: List[Tuple[str, str]], inputs: List[t.EstimationInput]
    ) -> List[t.ResourceEstimate]:
        check_settings(settings)
        estimates = [estimate_one(i) for i in inputs]
        return [e for e in estimates if e is not None]
"#;

pub fn files(s: &Skeleton) -> Vec<File> {
    let kind_list = s
        .kinds
        .iter()
        .map(|k| match k {
            Kind::Discovery => "t.ProviderKind.DISCOVERY",
            Kind::ResourceMetrics => "t.ProviderKind.RESOURCE_METRICS",
            Kind::Environment => "t.ProviderKind.ENVIRONMENT",
            Kind::Estimation => "t.ProviderKind.ESTIMATION",
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut app = HEADER
        .replace("@NAME@", &s.name)
        .replace("@KINDS@", &s.kinds_text())
        .replace("@KIND_LIST@", &kind_list);
    for kind in &s.kinds {
        app.push_str(match kind {
            Kind::Discovery => DISCOVERY,
            Kind::ResourceMetrics => RESOURCE_METRICS,
            Kind::Environment => ENVIRONMENT,
            Kind::Estimation => ESTIMATION,
        });
    }
    let build = format!(
        "#!/bin/sh\n\
         # Builds {name}.wasm from app.py against the WIT in wit/ (world `plugin` in wit/plugin.wit).\n\
         # Needs componentize-py: python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1\n\
         set -e\n\
         cd \"$(dirname \"$0\")\"\n\
         COMPONENTIZE_PY=\"${{COMPONENTIZE_PY:-componentize-py}}\"\n\
         [ -x .venv/bin/componentize-py ] && [ \"$COMPONENTIZE_PY\" = componentize-py ] && COMPONENTIZE_PY=.venv/bin/componentize-py\n\
         \"$COMPONENTIZE_PY\" -d wit -w plugin componentize app -o {name}.wasm\n",
        name = s.name
    );
    let readme = format!(
        "# {name}\n\n\
         A Carbonaut provider plugin ({kinds}) written in Python, built into a WebAssembly \
         component with [componentize-py](https://pypi.org/project/componentize-py/).\n\n\
         - `app.py`: the plugin, one class per exported interface (`Metadata`, and one per kind).\n\
         - `wit/`: the contract (`carbonaut wit --out wit` writes the same files) and \
         `wit/plugin.wit`, the world this plugin implements.\n\
         - `build.sh`: the build.\n\n\
         ## Build it\n\n\
         ```sh\n\
         python3 -m venv .venv\n\
         .venv/bin/pip install componentize-py==0.25.1\n\
         ./build.sh                      # writes {name}.wasm (about 18 MB: it carries CPython)\n\
         ```\n\n\
         `.venv/bin/componentize-py -d wit -w plugin bindings bindings/` writes the Python \
         bindings for your editor. Code at module level runs once, at build time (the \
         interpreter is snapshotted after importing `app`): load tables and parse files there, \
         not in every call. Only the standard library and pure-Python packages on the path work.\n\n\
         {tail}",
        name = s.name,
        kinds = s.kinds_text(),
        tail = readme_tail(s),
    );
    vec![
        ("app.py".into(), app),
        ("build.sh".into(), build),
        ("README.md".into(), readme),
        ("wit/plugin.wit".into(), s.world()),
        (".gitignore".into(), ".venv/\n__pycache__/\n*.wasm\n".into()),
    ]
}
