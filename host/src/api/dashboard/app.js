// The Carbonaut dashboard: reads the JSON API of the host that serves it and redraws every
// REFRESH_MS. History comes from GET /api/v1/report; when that answers 404 (a host without the
// report API) the page derives what it can from the current snapshot (/api/v1/topology,
// /api/v1/status) and charts the totals it saw since it was opened. Every value is written
// with textContent (never as HTML) and, where it is a number, also in full precision in a
// data-value attribute. The forecast section reads /api/v1/forecast per location in use and
// /api/v1/best-window, at most once a minute (forecasts change by the hour).
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  // ?refresh=SECONDS (at least 1) overrides the default of 15 s.
  const REFRESH_MS = Math.max(1, Number(params.get("refresh")) || 15) * 1000;
  // ?stack=account|project|footprint picks what the chart stacks (a link can carry it).
  const STACK = params.get("stack");
  /** The chart's two bands when stacked by footprint: operational and embodied emissions. */
  const FOOTPRINT = ["operational", "embodied"];
  const TOKEN_KEY = "carbonaut-token";
  const TOP = 10;
  const PERIODS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
  const COLORS = ["#2f7d4f", "#3b6fb6", "#c9803a", "#8a55a8", "#b8465a", "#4a9ca6", "#8c8c3a", "#6b6b6b"];

  // A token in the fragment (#token=...) is moved to sessionStorage and out of the address bar,
  // so a link can carry it once without it staying visible or reaching a server log.
  if (location.hash.startsWith("#token=")) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(location.hash.slice("#token=".length)));
    history.replaceState(null, "", location.pathname + location.search);
  }

  const $ = (id) => document.getElementById(id);

  class Unauthorized extends Error {}

  /** GETs `path` as JSON; with `absent`, a 404 is an answer (null), not a failure. */
  async function api(path, { absent = false } = {}) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(path, { headers, cache: "no-store" });
    if (response.status === 401 || response.status === 403) {
      const body = await response.json().catch(() => ({}));
      throw new Unauthorized(body.error || `${path} answered ${response.status}`);
    }
    if (response.status === 404 && absent) return null;
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(`${path} answered ${response.status}: ${body.error || response.statusText}`);
    }
    return response.json();
  }

  /** A number for people: 4 significant digits below 100, one decimal above. */
  function num(x) {
    if (x === null || x === undefined || !Number.isFinite(x)) return "–";
    if (x === 0) return "0";
    const a = Math.abs(x);
    if (a >= 100) return x.toFixed(1);
    if (a >= 1) return x.toFixed(3);
    return x.toPrecision(3);
  }
  /** A table cell for a whole number. */
  const count = (n) => (Number.isFinite(n) ? { value: n, text: String(n) } : { value: NaN, text: "–" });
  const pct = (x) => (Number.isFinite(x) ? (100 * x).toFixed(1) + "%" : "–");
  const utc = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ") + "Z";

  function setNumber(el, value, text) {
    el.textContent = text === undefined ? num(value) : text;
    if (Number.isFinite(value)) el.dataset.value = String(value);
    else delete el.dataset.value;
  }

  /** Replaces a table's rows; a cell is a string or {text, value, cls, title}. */
  function fill(table, rows) {
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const cells of rows) {
      const tr = body.insertRow();
      for (const cell of cells) {
        const td = tr.insertCell();
        const c = typeof cell === "object" && cell !== null ? cell : { text: cell };
        if ("value" in c) {
          setNumber(td, c.value, c.text);
          td.className = "n";
        } else {
          td.textContent = c.text ?? "";
        }
        if (c.cls) td.classList.add(c.cls);
        if (c.title) td.title = c.title;
      }
    }
    if (rows.length === 0) {
      const td = body.insertRow().insertCell();
      td.colSpan = table.tHead.rows[0].cells.length;
      td.className = "empty";
      td.textContent = "nothing yet";
    }
  }

  // ---- the current snapshot, shared by both modes ------------------------------------------

  function resourcesOf(topology) {
    const out = [];
    for (const a of topology.accounts)
      for (const p of a.projects)
        for (const r of p.resources) out.push({ account: a.name, project: p.id, projectName: p.name, r });
    return out;
  }

  function snapshotTotals(resources) {
    let joules = 0, grams = 0, embodied = 0, estimatedJoules = 0, sampledJoules = 0;
    for (const { r } of resources) {
      const j = r.energy_joules_total ?? 0;
      joules += j;
      grams += r.emissions_grams_total ?? 0;
      embodied += r.embodied_emissions_grams_total ?? 0;
      if (r.estimated !== null && r.estimated !== undefined) {
        sampledJoules += j;
        if (r.estimated) estimatedJoules += j;
      }
    }
    const kwh = joules / 3.6e6;
    return {
      energy_kwh: kwh,
      emissions_kgco2e: grams / 1000,
      embodied_kgco2e: embodied / 1000,
      mean_intensity_g_per_kwh: kwh > 0 ? grams / kwh : NaN,
      estimated_share: sampledJoules > 0 ? estimatedJoules / sampledJoules : NaN,
    };
  }

  function showTotals(t) {
    setNumber($("total-energy"), t.energy_kwh);
    setNumber($("total-emissions"), t.emissions_kgco2e);
    // A report from a host before embodied emissions has no such field: shown as unknown.
    setNumber($("total-embodied"), t.embodied_kgco2e ?? NaN);
    setNumber($("total-intensity"), t.mean_intensity_g_per_kwh);
    setNumber($("total-estimated"), t.estimated_share, pct(t.estimated_share));
    const measured = Number.isFinite(t.estimated_share) ? 1 - t.estimated_share : NaN;
    setNumber($("total-measured"), measured, pct(measured) + " measured");
  }

  // ---- the chart: emissions stacked by group, intensity on a second axis -------------------

  let plot = null;
  let plotKey = "";

  /** times (s), groups, values[group][i] (kg, null = none), intensity[i] (g/kWh); bars for
   * amounts per step (the report), areas for running totals (the snapshot). */
  function drawChart(times, groups, values, intensity, note, bars) {
    $("chart-note").textContent = note;
    if (bars && times.length === 1) {
      // A lone bar gives the time axis no span, and uPlot then widens it to years: pad it with
      // an empty step on each side.
      const step = times[0] % 86400 === 0 ? 86400 : 3600;
      times = [times[0] - step, times[0], times[0] + step];
      values = Object.fromEntries(
        Object.entries(values).map(([g, v]) => [g, [null, v[0], null]]),
      );
      intensity = [null, intensity[0], null];
    }
    const el = $("chart");
    const width = Math.max(320, el.clientWidth || 900);
    // Stacked: series k holds the sum of groups 0..k; drawn top first so each lower band
    // paints over the one above it.
    const stacked = [];
    let running = times.map(() => 0);
    for (const g of groups) {
      running = running.map((s, i) => s + (values[g][i] ?? 0));
      stacked.push(running);
    }
    const order = groups.map((_, k) => k).reverse();
    const data = [times, ...order.map((k) => stacked[k]), intensity];
    const key = groups.join("\u0000") + "|" + width + "|" + bars;
    if (plot && plotKey === key) {
      plot.setData(data);
      return;
    }
    if (plot) plot.destroy();
    plotKey = key;
    const gaps = times.slice(1).map((t, i) => t - times[i]).filter((d) => d > 0);
    const halfStep = (gaps.length ? Math.min(...gaps) : 3600) / 2;
    const series = [
      {},
      ...order.map((k) => ({
        label: groups[k],
        stroke: COLORS[k % COLORS.length],
        fill: COLORS[k % COLORS.length] + "cc",
        width: 1,
        paths: bars ? uPlot.paths.bars({ size: [0.7, 80] }) : undefined,
        points: { show: !bars },
        // The legend shows the group's own value, not the stack's.
        value: (u, v, s, i) => (i === null ? "–" : num(values[groups[k]][i])) + " kg",
      })),
      {
        label: "grid intensity",
        scale: "g",
        stroke: "#111",
        width: 2,
        dash: [6, 4],
        points: { show: true, size: 5 },
        value: (u, v) => (v === null ? "–" : num(v)) + " g/kWh",
      },
    ];
    plot = new uPlot(
      {
        width,
        height: 280,
        series,
        scales: {
          // Bars are drawn centred on their step: half a step of room at each end.
          x: { time: true, range: (u, min, max) => (bars ? [min - halfStep, max + halfStep] : [min, max]) },
          // Stacks start at zero, or the bars' heights would lie.
          y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
          g: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
        },
        axes: [
          {},
          { label: "kgCO2e", size: 70, values: (u, vals) => vals.map(num) },
          { label: "g/kWh", side: 1, scale: "g", size: 60, grid: { show: false } },
        ],
        legend: { live: true },
      },
      data,
      el,
    );
  }

  // ---- history: the report API --------------------------------------------------------------

  async function fromReport(period, group) {
    const to = new Date();
    const from = new Date(to.getTime() - PERIODS[period]);
    const step = PERIODS[period] > PERIODS["7d"] ? "day" : "hour";
    // RFC 3339 to the second, as the report API's examples write it.
    const rfc3339 = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
    const q = (g) =>
      `/api/v1/report?from=${rfc3339(from)}&to=${rfc3339(to)}&group_by=${g}&step=${step}`;
    // Operational against embodied is a split of every row, whatever the grouping.
    const byGroup = await api(q(group === "footprint" ? "account" : group), { absent: true });
    if (byGroup === null) return null;
    const [byResource, byLocation] = await Promise.all([
      api(q("resource"), { absent: true }),
      api(q("location"), { absent: true }),
    ]);
    return { byGroup, byResource, byLocation, step, footprint: group === "footprint" };
  }

  /** Sums report rows per group over the period. */
  function sumRows(rows) {
    const out = new Map();
    for (const row of rows) {
      const s = out.get(row.group) || { energy_kwh: 0, emissions_kgco2e: 0 };
      s.energy_kwh += row.energy_kwh;
      s.emissions_kgco2e += row.emissions_kgco2e;
      out.set(row.group, s);
    }
    return out;
  }

  function showReport(report, snapshot) {
    const { byGroup, byResource, byLocation, step, footprint } = report;
    $("source").textContent =
      `History from the report API, ${utc(Date.parse(byGroup.from))} to ${utc(Date.parse(byGroup.to))} by ${step}.` +
      (byGroup.notes && byGroup.notes.length ? " " + byGroup.notes.join(" ") : "");
    showTotals(byGroup.totals);

    const starts = [...new Set(byGroup.rows.map((r) => r.start))].sort();
    const groups = footprint ? FOOTPRINT : [...new Set(byGroup.rows.map((r) => r.group))].sort();
    const values = Object.fromEntries(groups.map((g) => [g, starts.map(() => null)]));
    const kwh = starts.map(() => 0), grams = starts.map(() => 0);
    const add = (g, i, kg) => (values[g][i] = (values[g][i] ?? 0) + kg);
    for (const row of byGroup.rows) {
      const i = starts.indexOf(row.start);
      if (footprint) {
        add("operational", i, row.emissions_kgco2e);
        add("embodied", i, row.embodied_kgco2e ?? 0);
      } else {
        add(row.group, i, row.emissions_kgco2e);
      }
      kwh[i] += row.energy_kwh;
      grams[i] += row.emissions_kgco2e * 1000;
    }
    const intensity = kwh.map((k, i) => (k > 0 ? grams[i] / k : null));
    drawChart(
      starts.map((s) => Date.parse(s) / 1000),
      groups,
      values,
      intensity,
      starts.length ? `kgCO2e per ${step}` : "no data in this period",
      true,
    );

    const names = new Map(snapshot.resources.map((x) => [x.r.id, x]));
    const top = [...sumRows(byResource.rows)].sort((a, b) => b[1].emissions_kgco2e - a[1].emissions_kgco2e);
    fill(
      $("resources"),
      top.slice(0, TOP).map(([id, s]) => {
        const known = names.get(id);
        return [
          { text: known ? known.r.name : id, title: id },
          known ? `${known.account} / ${known.projectName}` : "",
          known ? known.r.grid_location ?? "" : "",
          { value: s.energy_kwh },
          { value: s.emissions_kgco2e },
        ];
      }),
    );
    const locations = [...sumRows(byLocation.rows)].sort((a, b) => b[1].emissions_kgco2e - a[1].emissions_kgco2e);
    fill(
      $("locations"),
      locations.map(([name, s]) => [
        name,
        count(snapshot.status.locations[name]?.resources),
        { value: s.energy_kwh > 0 ? (1000 * s.emissions_kgco2e) / s.energy_kwh : NaN },
        { value: s.energy_kwh },
        { value: s.emissions_kgco2e },
      ]),
    );
  }

  // ---- no report API: the current snapshot ---------------------------------------------------

  /** What this page saw at each refresh: {t, kg: {group: kg}, kwh, g}. */
  const seen = [];

  function showSnapshot(snapshot, group) {
    const { resources, status } = snapshot;
    $("source").textContent =
      "The report API is not available on this host: totals are since each resource was first " +
      "measured (its counters), and the chart shows what this page saw since it was opened.";
    const totals = snapshotTotals(resources);
    showTotals(totals);

    const kg = {};
    for (const x of resources) {
      if (group === "footprint") {
        kg.operational = (kg.operational ?? 0) + (x.r.emissions_grams_total ?? 0) / 1000;
        kg.embodied = (kg.embodied ?? 0) + (x.r.embodied_emissions_grams_total ?? 0) / 1000;
        continue;
      }
      const g = group === "project" ? `${x.account}/${x.projectName}` : x.account;
      kg[g] = (kg[g] ?? 0) + (x.r.emissions_grams_total ?? 0) / 1000;
    }
    const last = seen[seen.length - 1];
    if (!last || last.taken !== status.taken_at_ms || last.group !== group) {
      if (last && last.group !== group) seen.length = 0;
      seen.push({ t: status.taken_at_ms / 1000, taken: status.taken_at_ms, group, kg, kwh: totals.energy_kwh, g: totals.emissions_kgco2e * 1000 });
      if (seen.length > 720) seen.shift();
    }
    const groups =
      group === "footprint" ? FOOTPRINT : [...new Set(seen.flatMap((s) => Object.keys(s.kg)))].sort();
    const values = Object.fromEntries(groups.map((g) => [g, seen.map((s) => s.kg[g] ?? null)]));
    // The grid intensity between two refreshes: the emissions added per energy added.
    const intensity = seen.map((s, i) => {
      if (i === 0) return null;
      const dk = s.kwh - seen[i - 1].kwh;
      return dk > 0 ? (s.g - seen[i - 1].g) / dk : null;
    });
    drawChart(
      seen.map((s) => s.t),
      groups,
      values,
      intensity,
      seen.length < 2 ? "total kgCO2e so far; the chart grows as the page refreshes" : "total kgCO2e so far",
      false,
    );

    const top = resources
      .filter((x) => x.r.emissions_grams_total !== null)
      .sort((a, b) => b.r.emissions_grams_total - a.r.emissions_grams_total)
      .slice(0, TOP);
    fill(
      $("resources"),
      top.map((x) => [
        { text: x.r.name, title: x.r.id },
        `${x.account} / ${x.projectName}`,
        x.r.grid_location ?? "",
        { value: (x.r.energy_joules_total ?? 0) / 3.6e6 },
        { value: x.r.emissions_grams_total / 1000 },
      ]),
    );

    const byLocation = new Map();
    for (const x of resources) {
      const name = x.r.grid_location ?? "(unknown)";
      const s = byLocation.get(name) || { j: 0, g: 0 };
      s.j += x.r.energy_joules_total ?? 0;
      s.g += x.r.emissions_grams_total ?? 0;
      byLocation.set(name, s);
    }
    fill(
      $("locations"),
      [...byLocation].sort((a, b) => b[1].g - a[1].g).map(([name, s]) => [
        name,
        count(status.locations[name]?.resources),
        { value: status.locations[name]?.mix?.carbon_intensity ?? NaN, title: "current" },
        { value: s.j / 3.6e6 },
        { value: s.g / 1000 },
      ]),
    );
  }

  // ---- the forecast: the next 24 hours per location, and the best window for a job ---------

  /** Forecasts change by the hour: asked again after a minute, not at every refresh. */
  const FORECAST_MS = 60e3;
  /** ...but a location that came or went is worth asking about sooner, though not in a loop. */
  const FORECAST_CHANGED_MS = 10e3;
  /** One request per location at each asking: the most locations shown, with the most resources. */
  const FORECAST_LOCATIONS = 12;
  const JOB = { duration: "2h", within: "24h", label: "a 2-hour job" };
  const NO_FORECAST =
    "No forecast: the forecast provider gives none (static-grid has none; WattTime, " +
    "Electricity Maps and mock-grid do: see [environment] forecast).";

  /** The last answers: {at, key, locations, total, forecasts: Map(location → answer | null),
   * failed: Map(location → message), best, bestError}. */
  let forecasts = null;

  /** The locations in use, those with the most resources first, capped. */
  function forecastLocations(status) {
    const all = Object.entries(status.locations)
      .sort((a, b) => (b[1].resources ?? 0) - (a[1].resources ?? 0) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([name]) => name);
    return { shown: all.slice(0, FORECAST_LOCATIONS), total: all.length };
  }

  /** Asks for the forecasts when the last answers are a minute old (or the locations changed);
   * a token refused here goes to the login like any other request. */
  async function loadForecasts(status) {
    const { shown, total } = forecastLocations(status);
    const key = shown.join("\u0000");
    const age = forecasts ? Date.now() - forecasts.at : Infinity;
    if (age < FORECAST_MS && (key === forecasts.key || age < FORECAST_CHANGED_MS)) return;
    const at = Date.now();
    const answers = new Map();
    const failed = new Map();
    await Promise.all(
      shown.map(async (location) => {
        try {
          const path = `/api/v1/forecast?location=${encodeURIComponent(location)}&hours=24`;
          answers.set(location, await api(path, { absent: true }));
        } catch (e) {
          if (e instanceof Unauthorized) throw e;
          failed.set(location, e.message);
        }
      }),
    );
    // The best window among the locations that have a forecast (one without would make the
    // whole answer 404); the saving is against starting now in the first, the largest.
    const withForecast = shown.filter((l) => answers.get(l));
    let best = null, bestError = null;
    if (withForecast.length) {
      try {
        const list = withForecast.map(encodeURIComponent).join(",");
        best = await api(
          `/api/v1/best-window?locations=${list}&duration=${JOB.duration}&within=${JOB.within}`,
          { absent: true },
        );
        if (best === null) bestError = "a forecast went missing meanwhile";
      } catch (e) {
        if (e instanceof Unauthorized) throw e;
        bestError = e.message;
      }
    }
    forecasts = { at, key, locations: shown, total, answers, failed, best, bestError };
  }

  /** A local time people read at a glance: "14:00", or "Tue 02:00" on another day than
   * `day` (today unless given). */
  function localTime(ms, day = Date.now()) {
    const d = new Date(ms);
    const time = d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    return d.toDateString() === new Date(day).toDateString()
      ? time
      : d.toLocaleDateString([], { weekday: "short" }) + " " + time;
  }

  /** "now", "in 40 min", "in 5 h", from this moment. */
  function fromNow(ms) {
    const minutes = Math.round((ms - Date.now()) / 60e3);
    if (minutes <= 1 && minutes >= -2) return "now";
    if (minutes < 0) return `started ${-minutes} min ago`;
    if (minutes < 60) return `in ${minutes} min`;
    const hours = minutes / 60;
    return `in ${hours < 10 ? Math.round(hours * 2) / 2 : Math.round(hours)} h`;
  }

  /** A child element with text (and a data-value when it is a number). */
  function put(parent, tag, text, value, attrs = {}) {
    const el = document.createElement(tag);
    if (value === undefined) el.textContent = text;
    else setNumber(el, value, text);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    parent.append(el);
    return el;
  }

  function showBest(f) {
    const p = $("best-window");
    p.replaceChildren();
    delete p.dataset.location;
    const b = f.best;
    if (!b) {
      p.hidden = !f.bestError;
      p.textContent = f.bestError ? `Best window for ${JOB.label}: none (${f.bestError}).` : "";
      return;
    }
    p.hidden = false;
    p.dataset.location = b.location;
    const start = Date.parse(b.start), end = Date.parse(b.end);
    p.append(`Best window for ${JOB.label}: `);
    put(p, "strong", b.location, undefined, { id: "best-location" });
    p.append(", ");
    put(p, "time", localTime(start), undefined, { id: "best-start", datetime: b.start, title: utc(start) });
    p.append("–");
    // The end's day only when it is not the start's.
    put(p, "time", localTime(end, start), undefined, { id: "best-end", datetime: b.end, title: utc(end) });
    p.append(" (");
    put(p, "span", fromNow(start), undefined, { id: "best-in" });
    p.append("), mean ");
    put(p, "span", num(b.mean_intensity), b.mean_intensity, { id: "best-mean" });
    p.append(" g/kWh: ");
    if (b.saving_g_per_kwh > 0) {
      put(p, "span", num(b.saving_g_per_kwh), b.saving_g_per_kwh, { id: "best-saving" });
      p.append(" g/kWh (");
      put(p, "span", pct(b.saving_share), b.saving_share, { id: "best-share" });
      p.append(") less than starting now in ");
    } else {
      p.append("no better than starting now in ");
    }
    put(p, "span", f.locations.find((l) => f.answers.get(l)) ?? "", undefined, { id: "best-baseline" });
    p.append(" (");
    put(p, "span", num(b.now_mean_intensity), b.now_mean_intensity, { id: "best-now" });
    p.append(" g/kWh).");
  }

  let forecastPlot = null;
  let forecastPlotKey = "";

  function showForecasts() {
    const f = forecasts;
    const named = f.locations.filter((l) => f.answers.get(l));
    const capped = f.total > f.locations.length
      ? `showing the ${f.locations.length} locations with the most resources of ${f.total}; `
      : "";
    $("forecast-note").textContent =
      f.total === 0 ? "" : `${capped}g/kWh, local time; asked at ${localTime(f.at)}, again each minute`;
    const none = $("forecast-none");
    none.hidden = named.length > 0;
    none.textContent =
      f.total === 0 ? "No location is in use yet." : f.failed.size ? "No forecast could be read: see the table." : NO_FORECAST;
    showBest(f);

    // Hour by hour (or whatever steps the provider gives): the union of every start, and each
    // series' last interval closed at its end so the stepped line shows it too.
    const starts = new Map(), ends = new Set();
    for (const l of named) {
      const points = f.answers.get(l).points;
      for (const p of points) starts.set(Date.parse(p.start), p.start);
      const last = points[points.length - 1];
      if (last) ends.add(Date.parse(last.start) + last.duration_minutes * 60e3);
    }
    const times = [...starts.keys()].sort((a, b) => a - b);
    const xs = [...new Set([...times, ...ends])].sort((a, b) => a - b);
    const values = named.map((l) => {
      const by = new Map(f.answers.get(l).points.map((p) => [Date.parse(p.start), p.carbon_intensity]));
      const points = f.answers.get(l).points;
      const last = points[points.length - 1];
      const end = last ? Date.parse(last.start) + last.duration_minutes * 60e3 : NaN;
      return xs.map((t) => (by.has(t) ? by.get(t) : t === end ? last.carbon_intensity : null));
    });

    fill(
      $("forecast-locations"),
      f.locations.map((l) => {
        const answer = f.answers.get(l);
        const resources = count(lastStatus?.locations[l]?.resources);
        if (!answer) {
          const why = f.failed.get(l);
          return [l, resources, { value: NaN }, { value: NaN }, "", { value: NaN },
            { text: why ? `could not be read: ${why}` : "no forecast", cls: why ? "error" : "down" }];
        }
        const points = answer.points;
        const low = points.reduce((m, p) => (p.carbon_intensity < m.carbon_intensity ? p : m), points[0]);
        const high = Math.max(...points.map((p) => p.carbon_intensity));
        return [
          l,
          resources,
          { value: points[0]?.carbon_intensity ?? NaN },
          { value: low?.carbon_intensity ?? NaN },
          low ? { text: `${localTime(Date.parse(low.start))} (${fromNow(Date.parse(low.start))})`, title: low.start } : "",
          { value: points.length ? high : NaN },
          { text: `${points.length} points, made ${utc(Date.parse(answer.generated_at))}`, cls: "up" },
        ];
      }),
    );

    const head = $("forecast-points").tHead.rows[0];
    head.replaceChildren();
    put(head, "th", "start");
    for (const l of named) put(head, "th", `${l} g/kWh`, undefined, { class: "n" });
    fill(
      $("forecast-points"),
      times.map((t) => [
        // The start as the API wrote it, in the title.
        { text: localTime(t), title: starts.get(t) },
        ...values.map((v) => ({ value: v[xs.indexOf(t)] ?? NaN })),
      ]),
    );

    const el = $("forecast-chart");
    el.hidden = named.length === 0;
    // With no forecast at all, the note says it once, not a row per location (but the
    // table stays for the reasons of forecasts that could not be read).
    $("forecast-locations").hidden = named.length === 0 && f.failed.size === 0;
    $("forecast-points").closest("details").hidden = named.length === 0;
    if (named.length === 0) {
      if (forecastPlot) forecastPlot.destroy();
      forecastPlot = null;
      forecastPlotKey = "";
      el.dataset.series = "";
      return;
    }
    el.dataset.series = named.join(",");
    const data = [xs.map((t) => t / 1000), ...values];
    const width = Math.max(320, el.clientWidth || 900);
    const key = named.join("\u0000") + "|" + width;
    if (forecastPlot && forecastPlotKey === key) {
      forecastPlot.setData(data);
      return;
    }
    if (forecastPlot) forecastPlot.destroy();
    forecastPlotKey = key;
    forecastPlot = new uPlot(
      {
        width,
        height: 240,
        series: [
          {},
          ...named.map((l, k) => ({
            label: l,
            stroke: COLORS[k % COLORS.length],
            // Past eight colours, the same ones dashed.
            dash: k >= COLORS.length ? [6, 4] : undefined,
            width: 2,
            // A forecast point holds for its interval: a step at each start.
            paths: uPlot.paths.stepped({ align: 1 }),
            points: { show: false },
            value: (u, v) => (v === null ? "–" : num(v)) + " g/kWh",
          })),
        ],
        scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{}, { label: "g/kWh", size: 60 }],
        legend: { live: true },
        hooks: {
          // Under the lines: the best window shaded, and now as a thin rule.
          drawClear: [
            (u) => {
              const ctx = u.ctx, { top, height } = u.bbox;
              const b = forecasts?.best;
              if (b) {
                const x0 = u.valToPos(Date.parse(b.start) / 1000, "x", true);
                const x1 = u.valToPos(Date.parse(b.end) / 1000, "x", true);
                ctx.fillStyle = "rgba(47, 125, 79, 0.13)";
                ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
              }
              const now = u.valToPos(Date.now() / 1000, "x", true);
              ctx.fillStyle = "#5f6b65";
              ctx.fillRect(now, top, 1, height);
            },
          ],
        },
      },
      data,
      el,
    );
  }

  /** The status the page drew last, for the forecast table's resource counts. */
  let lastStatus = null;

  // ---- health: plugins and reloads ----------------------------------------------------------

  function showPlugins(plugins, status) {
    fill(
      $("plugins"),
      plugins.map((p) => {
        const providers = Object.entries(status.providers)
          .filter(([, v]) => v.plugin === p.name)
          .map(([name, v]) => {
            if (!v.degraded) return `${name}: ok`;
            const n = v.consecutive_failures;
            const wait = Math.ceil((v.retry_in_ms ?? 0) / 1000);
            return `${name}: degraded after ${n} failure${n === 1 ? "" : "s"}, ` +
              (wait > 0 ? `backing off ${wait} s` : "retried at its next interval");
          });
        const state = p.disabled ? "disabled" : p.up ? "up" : "down";
        const c = p.call_summary || {};
        return [
          { text: `${p.name} ${p.version}`, title: p.sha256 },
          { text: state, cls: state },
          count(c.calls),
          count(c.failed),
          { value: c.p99_seconds === null || c.p99_seconds === undefined ? NaN : c.p99_seconds * 1000 },
          { value: p.peak_memory_bytes / 1048576 },
          { text: providers.join("; "), cls: providers.some((x) => x.includes("degraded")) ? "down" : "" },
          { text: p.last_error ?? "", cls: "error" },
        ];
      }),
    );
  }

  function showReloads(reloads) {
    fill(
      $("reloads"),
      reloads.slice(0, 10).map((r) => [
        utc(r.at_ms),
        r.trigger,
        { text: r.outcome, cls: { applied: "up", "rolled-back": "down" }[r.outcome] ?? "" },
        count(r.duration_ms),
        { text: [...r.items, r.reason].filter(Boolean).join("; ") },
      ]),
    );
  }

  // ---- the refresh loop ----------------------------------------------------------------------

  function askForToken(message) {
    $("login").hidden = false;
    $("main").hidden = true;
    $("login-why").textContent = message;
    $("state").textContent = "needs a token";
    $("state").className = "state down";
  }

  // Topology, status and plugins of one snapshot: a collection published between two of the
  // requests would mix two snapshots on the page, so the status is read before and after, and
  // the reads are made again when it changed. After a few tries the page keeps what it shows
  // (the next refresh tries again) rather than draw totals from one snapshot beside another's.
  async function oneSnapshot() {
    for (let attempt = 0; attempt < 4; attempt++) {
      const before = await api("/api/v1/status");
      const [topology, plugins, reloads] = await Promise.all([
        api("/api/v1/topology"),
        api("/api/v1/plugins"),
        // A host without a reloader answers 503 here; the rest of the page still works.
        api("/api/v1/reloads").catch((e) => (e instanceof Unauthorized ? Promise.reject(e) : [])),
      ]);
      const status = await api("/api/v1/status");
      if (status.taken_at_ms === before.taken_at_ms) {
        return [topology, status, plugins, reloads];
      }
    }
    throw new Error("the daemon published new figures during each of 4 reads; trying again at the next refresh");
  }

  let running = false;
  async function refresh() {
    if (running) return;
    running = true;
    const period = $("period").value;
    const group = $("group").value;
    try {
      const [topology, status, plugins, reloads] = await oneSnapshot();
      const snapshot = { resources: resourcesOf(topology), status };
      const [report] = await Promise.all([fromReport(period, group), loadForecasts(status)]);
      lastStatus = status;
      $("login").hidden = true;
      $("main").hidden = false;
      if (report) showReport(report, snapshot);
      else showSnapshot(snapshot, group);
      $("period").disabled = !report;
      showForecasts();
      showPlugins(plugins, status);
      showReloads(reloads);
      // While the state directory cannot be written, counters are not published: say so
      // first, since every figure on the page has stopped moving.
      const failure = status.state && !status.state.writable ? status.state.failure : null;
      const unwritable = failure
        ? `STATE NOT WRITABLE for ${Math.round((Date.now() - failure.since_ms) / 1000)} s ` +
          `(${failure.failures} failed ${failure.store} writes: ${failure.cause}); figures frozen · `
        : "";
      $("state").textContent =
        unwritable +
        `${status.ready ? "ready" : "not ready yet"} · ${status.resources} resources · ` +
        `updated ${utc(Date.now())} · every ${REFRESH_MS / 1000} s`;
      $("state").className = "state " + (status.ready && !failure ? "up" : "down");
      $("state").dataset.takenAt = String(status.taken_at_ms);
    } catch (e) {
      if (e instanceof Unauthorized) {
        const had = sessionStorage.getItem(TOKEN_KEY);
        if (had) sessionStorage.removeItem(TOKEN_KEY);
        askForToken(had ? `The token was refused: ${e.message}` : `The JSON API wants a token: ${e.message}`);
      } else {
        $("state").textContent = `refresh failed: ${e.message}`;
        $("state").className = "state down";
      }
    } finally {
      running = false;
    }
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    refresh();
  });
  if (STACK && [...$("group").options].some((o) => o.value === STACK)) $("group").value = STACK;
  $("period").addEventListener("change", refresh);
  $("group").addEventListener("change", refresh);
  window.addEventListener("resize", () => {
    plotKey = "";
    forecastPlotKey = "";
    refresh();
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
