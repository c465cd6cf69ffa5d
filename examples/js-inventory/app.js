// js-inventory: a Carbonaut discovery provider written in JavaScript.
//
// It lists the machines an operator describes in its `inventory` setting (JSON), grouped in
// projects: for sites without a cloud API, such as a rack of servers or a lab. The account's
// own settings win over the provider's, so one provider instance can serve several sites.
//
// How WIT maps to JavaScript (componentize-js): each exported interface is an exported object
// whose methods are the interface's functions in camelCase; records are plain objects with
// camelCase fields; enums are their kebab-case strings; `option<T>` is the value or
// `undefined`; `u64` is a BigInt; a `result` is the returned value, or its error when the
// function throws `{ tag: 'bad-config', val: 'why' }` (a `provider-error` case).

import { log } from 'carbonaut:provider/log@0.2.0';

const NAME = 'js-inventory';
const VERSION = '0.1.0';
const KINDS = ['vm', 'bare-metal', 'host', 'container', 'other'];
const GIB = 1024n * 1024n * 1024n;

/** The value of `key` in a settings list (`[[key, value], ...]`), or undefined. */
function setting(settings, key) {
  const found = settings.find(([k]) => k === key);
  return found === undefined ? undefined : found[1];
}

/** A permanent error the operator must fix: the host does not retry it. */
function badConfig(message) {
  return { tag: 'bad-config', val: message };
}

/**
 * The inventory of an account: `{ "project": [ { "name": "web-1", ... } ] }`, from the
 * account's settings, else the provider's. Throws bad-config when it is missing or malformed.
 */
function inventory(settings, account) {
  const raw = setting(account.settings, 'inventory') ?? setting(settings, 'inventory');
  if (raw === undefined) {
    throw badConfig(`setting \`inventory\` is missing for account \`${account.name}\``);
  }
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw badConfig(`setting \`inventory\` is not valid JSON: ${e.message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw badConfig('setting `inventory` must be a JSON object of project name to machine list');
  }
  for (const [project, machines] of Object.entries(parsed)) {
    if (!Array.isArray(machines)) {
      throw badConfig(`inventory project \`${project}\` must be a list of machines`);
    }
    for (const m of machines) {
      if (m === null || typeof m !== 'object' || typeof m.name !== 'string' || m.name === '') {
        throw badConfig(`inventory project \`${project}\` has a machine without a \`name\``);
      }
      if (m.kind !== undefined && !KINDS.includes(m.kind)) {
        throw badConfig(
          `machine \`${m.name}\`: kind \`${m.kind}\` is not one of ${KINDS.join(', ')}`,
        );
      }
    }
  }
  return parsed;
}

/** An optional whole number as a BigInt (`u64`), or undefined. */
function bytesOfGib(gib) {
  return typeof gib === 'number' && gib >= 0 ? BigInt(Math.round(gib)) * GIB : undefined;
}

function resource(project, machine) {
  return {
    // Stable across calls: the host keys its state on it.
    id: `${project.id}/${machine.name}`,
    name: machine.name,
    kind: machine.kind ?? 'host',
    location: {
      country: machine.country,
      region: machine.region,
      zone: machine.zone,
      coordinates: undefined,
    },
    hardware: {
      vcpus: typeof machine.vcpus === 'number' ? machine.vcpus : undefined,
      memoryBytes: bytesOfGib(machine.memory_gib),
      cpuModel: machine.cpu_model,
    },
    labels: Object.entries(machine.labels ?? {}).map(([k, v]) => [k, String(v)]),
  };
}

export const metadata = {
  metadata() {
    return {
      name: NAME,
      version: VERSION,
      description: 'Machines listed in the settings, grouped in projects; written in JavaScript.',
      kinds: ['discovery'],
      settings: [
        {
          key: 'inventory',
          description:
            'JSON: {"project": [{"name": "web-1", "kind": "host", "country": "DE", "vcpus": 8, "memory_gib": 32}]}',
          required: true,
          secret: false,
        },
      ],
      // Everything comes from the settings: no network, no files, no key-value store.
      needs: { http: [], readOnlyDirs: [], keyValue: false },
    };
  },
};

export const discovery = {
  listProjects(settings, account) {
    const projects = Object.keys(inventory(settings, account))
      .sort()
      .map((name) => ({ id: name, name, labels: [['source', NAME]] }));
    log('debug', 'listed projects', [
      ['account', account.name],
      ['projects', String(projects.length)],
    ]);
    return projects;
  },

  listResources(settings, account, project) {
    const machines = inventory(settings, account)[project.id];
    if (machines === undefined) {
      // The project went away since list-projects: it has no resources now.
      return [];
    }
    return machines.map((m) => resource(project, m));
  },
};
