//! The JavaScript skeleton: `app.js` (componentize-js), `package.json` and a README.

use super::{File, Kind, Skeleton, readme_tail};

/// The versions examples/js-inventory pins (with its package-lock.json) and CI builds with.
const COMPONENTIZE_JS: &str = "0.23.0";
/// componentize-js imports this without depending on it; 0.25.0 still preopens the current
/// directory, which it needs to read `wit/`.
const PREVIEW2_SHIM: &str = "0.25.0";

const HEADER: &str = r#"// @NAME@: a Carbonaut provider plugin written in JavaScript (@KINDS@).
//
// Build it with `npm run build` (componentize-js), check it with
// `carbonaut plugin check @NAME@.wasm`.
//
// How WIT maps to JavaScript: each exported interface is an exported object whose methods are
// its functions in camelCase; records are objects with camelCase fields; enums are their
// kebab-case strings; option<T> is the value or undefined; u64 (timestamps, bytes) is a
// BigInt. A failure is a thrown provider-error case: { tag: 'bad-config', val: 'why' } for
// settings the operator must fix (not retried), { tag: 'unauthorized', val: 'why' }, or
// { tag: 'unavailable', val: { message: 'why', retryAfterMs: 60000n } } for a temporary
// failure (the host retries later).

import { log } from 'carbonaut:provider/log@@WIT@';

const NAME = '@NAME@';
const VERSION = '0.1.0';

/** The value of `key` in a settings list ([[key, value], ...]), or undefined. */
function setting(settings, key) {
  const found = settings.find(([k]) => k === key);
  return found === undefined ? undefined : found[1];
}

function checkSettings(settings) {
  if (setting(settings, 'example') === 'fail') {
    throw { tag: 'bad-config', val: 'setting `example` is `fail`' };
  }
}

export const metadata = {
  metadata() {
    return {
      name: NAME,
      version: VERSION,
      description: 'Describe in one sentence what this plugin reads.',
      kinds: [@KIND_LIST@],
      settings: [
        {
          key: 'example',
          description: 'An example setting; `fail` makes every call fail as bad-config',
          required: false,
          secret: false,
        },
      ],
      // Ask only for what you use; the operator grants at most this. For example
      // http: ['https://api.example.com'], readOnlyDirs: ['/sys/class/powercap'].
      needs: { http: [], readOnlyDirs: [], keyValue: false },
    };
  },
};
"#;

const DISCOVERY: &str = r#"
export const discovery = {
  listProjects(settings, account) {
    checkSettings(settings);
    log('debug', 'listing projects', [['account', account.name]]);
    // Ids must be stable across calls: the host keys its state on them.
    return [{ id: 'default', name: 'default', labels: [] }];
  },

  listResources(settings, account, project) {
    checkSettings(settings);
    return [
      {
        id: `${project.id}/machine-1`,
        name: 'machine-1',
        kind: 'host',
        location: {
          cloud: undefined,
          country: 'DE',
          region: undefined,
          zone: undefined,
          gridZone: undefined,
          coordinates: undefined,
        },
        hardware: {
          vcpus: 4,
          memoryBytes: 16n * 1024n ** 3n,
          cpuModel: undefined,
          instanceType: undefined,
          gpuCount: undefined,
          gpuModel: undefined,
        },
        labels: [['team', 'example']],
      },
    ];
  },
};
"#;

const RESOURCE_METRICS: &str = r#"
export const resourceMetrics = {
  collect(settings, account, resources) {
    checkSettings(settings);
    // One call gets the whole batch: read them together, return one sample per resource you
    // have a reading for. Energy is a cumulative counter in joules, power in watts.
    const readAt = BigInt(Date.now());
    return resources.map((r) => ({
      resourceId: r.id,
      energyJoules: undefined,
      powerWatts: 50.0,
      cpuFrequencyHertz: undefined,
      cpuUtilizationRatio: 0.25,
      readAt,
      estimated: true,
      components: [],
    }));
  },
};
"#;

const ENVIRONMENT: &str = r#"
// Ember's 2024 yearly averages in gCO2eq/kWh (CC BY-SA 4.0), as an example table.
const INTENSITY = { DE: 342.06, FR: 44.18 };

export const environment = {
  collect(settings, locations) {
    checkSettings(settings);
    const mixes = [];
    for (const q of locations) {
      const code = q.gridZone ?? q.location.country;
      if (!(code in INTENSITY)) {
        continue; // leave out locations you know nothing about
      }
      mixes.push({
        locationId: q.id, // echo the query's id
        carbonIntensity: INTENSITY[code],
        emissionFactor: 'lifecycle',
        shares: [],
        validAt: BigInt(Date.now()),
        estimated: true,
        zone: undefined,
      });
    }
    return mixes;
  },

  forecast(settings, locations) {
    return []; // no forecasts: the host then has none for these locations
  },
};
"#;

const ESTIMATION: &str = r#"
// A sample model, to show the shape of an answer: CPU power between an idle and a full-load
// figure per vCPU (near Cloud Carbon Footprint's cloud averages), DRAM power per GiB, and a
// share by vCPUs of a typical two-socket server's manufacturing emissions. A real model goes
// here: coefficients per instance type or CPU model (see plugins/ccf in the Carbonaut
// repository), measured load curves, your own racks' figures.
const IDLE_WATTS_PER_VCPU = 0.75;
const FULL_WATTS_PER_VCPU = 3.5;
const DRAM_WATTS_PER_GIB = 0.375;
const ASSUMED_UTILIZATION = 0.5; // when the host has no reading of the resource
const MACHINE_GRAMS = 1200000.0; // TE: the whole machine's manufacturing emissions
const MACHINE_VCPUS = 64;

/** One resource's estimate; undefined for a resource the model knows nothing about (the host
 * then shows it without one rather than guessing). */
function estimateOne(input) {
  const vcpus = input.info.hardware.vcpus;
  if (!vcpus) {
    return undefined;
  }
  let measured = input.sample?.cpuUtilizationRatio;
  if (measured !== undefined && !Number.isFinite(measured)) {
    measured = undefined;
  }
  const utilization = Math.min(Math.max(measured ?? ASSUMED_UTILIZATION, 0), 1);
  const cpu =
    vcpus * (IDLE_WATTS_PER_VCPU + (FULL_WATTS_PER_VCPU - IDLE_WATTS_PER_VCPU) * utilization);
  const power = [{ component: 'cpu', watts: cpu }];
  const memoryBytes = input.info.hardware.memoryBytes;
  if (memoryBytes !== undefined) {
    const gib = Number(memoryBytes) / 2 ** 30;
    power.push({ component: 'dram', watts: gib * DRAM_WATTS_PER_GIB });
  }
  const assumed = measured === undefined ? ' assumed' : '';
  return {
    resourceId: input.info.id, // echo the input's id
    power,
    embodied: {
      machineGrams: MACHINE_GRAMS,
      share: Math.min(vcpus / MACHINE_VCPUS, 1), // above 0 and at most 1
      // undefined: the host's `[footprint] lifetime_hours` (four years by default).
      lifetimeHours: undefined,
    },
    basis: `sample model: ${vcpus} vCPUs at ${(utilization * 100).toFixed(0)} % CPU${assumed}`,
  };
}

export const estimation = {
  estimate(settings, inputs) {
    checkSettings(settings);
    return inputs.map(estimateOne).filter((e) => e !== undefined);
  },
};
"#;

pub fn files(s: &Skeleton) -> Vec<File> {
    let kind_list = s
        .kinds
        .iter()
        .map(|k| format!("'{}'", k.wit()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut app = HEADER
        .replace("@NAME@", &s.name)
        .replace("@KINDS@", &s.kinds_text())
        .replace("@KIND_LIST@", &kind_list)
        .replace("@WIT@", &carbonaut_plugins::SUPPORTED_WIT.to_string());
    for kind in &s.kinds {
        app.push_str(match kind {
            Kind::Discovery => DISCOVERY,
            Kind::ResourceMetrics => RESOURCE_METRICS,
            Kind::Environment => ENVIRONMENT,
            Kind::Estimation => ESTIMATION,
        });
    }
    let package = format!(
        r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "description": "A Carbonaut provider plugin ({kinds}).",
  "private": true,
  "type": "module",
  "scripts": {{
    "build": "componentize-js app.js --wit wit --world-name plugin -o {name}.wasm"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "{COMPONENTIZE_JS}",
    "@bytecodealliance/preview2-shim": "{PREVIEW2_SHIM}"
  }}
}}
"#,
        name = s.name,
        kinds = s.kinds_text(),
    );
    let readme = format!(
        "# {name}\n\n\
         A Carbonaut provider plugin ({kinds}) written in JavaScript, built into a WebAssembly \
         component with [componentize-js](https://www.npmjs.com/package/@bytecodealliance/componentize-js) \
         (SpiderMonkey inside the component).\n\n\
         - `app.js`: the plugin, one exported object per interface (`metadata`, and one per kind).\n\
         - `wit/`: the contract (`carbonaut wit --out wit` writes the same files) and \
         `wit/plugin.wit`, the world this plugin implements.\n\
         - `package.json`: the pinned build tools and the build script.\n\n\
         ## Build it\n\n\
         ```sh\n\
         npm install                     # then commit package-lock.json to pin every tool version\n\
         npm run build                   # writes {name}.wasm (about 13 MB: it carries the JS engine)\n\
         ```\n\n\
         componentize-js reads the WIT only from below the current directory, hence `wit/` here. \
         Code at module level runs once, at build time (the engine is snapshotted after \
         evaluating `app.js`): build tables there, not in every call. There is no Node.js API \
         (no `fs`, no `process`).\n\n\
         {tail}",
        name = s.name,
        kinds = s.kinds_text(),
        tail = readme_tail(s),
    );
    vec![
        ("app.js".into(), app),
        ("package.json".into(), package),
        ("README.md".into(), readme),
        ("wit/plugin.wit".into(), s.world()),
        (".gitignore".into(), "node_modules/\n*.wasm\n".into()),
    ]
}
