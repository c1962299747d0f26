// The status page: polls the JSON endpoints and redraws, never reloads.
// Values go in with textContent only: names and errors are data, not HTML.
"use strict";
(function () {
  const POLL_MS = 1000;
  // window.ehstream is for people in the console and for tests: points is
  // the charts' point count, updates the number of refreshes so far.
  const page = { points: 0, updates: 0, charts: {} };
  window.ehstream = page;

  const $ = (id) => document.getElementById(id);

  function text(id, v) {
    const e = $(id);
    const s = v === undefined || v === null || v === "" ? "-" : String(v);
    if (e.textContent !== s) e.textContent = s;
  }

  function ms(seconds) {
    const v = seconds * 1000;
    return v < 10 ? v.toFixed(1) + " ms" : Math.round(v) + " ms";
  }

  function duration(seconds) {
    let s = Math.floor(seconds);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const parts = [];
    if (d) parts.push(d + "d");
    if (d || h) parts.push(h + "h");
    if (d || h || m) parts.push(m + "m");
    parts.push(s + "s");
    return parts.join(" ");
  }

  function clock(iso) {
    const t = new Date(iso);
    return t.toLocaleTimeString([], { hour12: false }) + "." + String(t.getMilliseconds()).padStart(3, "0");
  }

  function cell(tr, value, cls) {
    const td = document.createElement("td");
    td.textContent = value === undefined || value === null ? "" : String(value);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  async function getJSON(path) {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  function renderStatus(s) {
    text("title-job", s.job ? "— " + s.job : "");
    text("s-job", s.job);
    text("s-hub", s.hub);
    text("s-group", s.consumerGroup);
    text("s-sink", s.sink);
    text("s-owner", s.owner || "(reads every partition)");
    text("s-uptime", duration(s.uptimeSeconds));
    text("s-interval", ms(s.batchIntervalSeconds));
    text("s-batches", s.batches.completed + " completed, " + s.batches.failed + " failed, " + s.batches.abandoned + " abandoned");
    text("s-events", s.events + " read" + (s.skipped ? ", " + s.skipped + " skipped (data loss)" : ""));
    const st = $("s-state");
    st.className = "state " + s.state;
    let state = s.state;
    if (s.lastFailure && s.lastFailure.retrying && s.state === "running") state = "running, retrying batch " + s.lastFailure.number;
    text("s-state", state);
    text("s-ready", s.ready ? "ready" : "not ready: " + s.notReady);
    const err = $("s-error");
    let msg = "";
    if (s.error) msg = "The stream failed: " + s.error;
    else if (s.lastFailure) msg = "Batch " + s.lastFailure.number + " failed (attempt " + s.lastFailure.attempt + ")" +
      (s.lastFailure.retrying ? ", running it again" : "") + ": " + s.lastFailure.error;
    err.hidden = msg === "";
    if (err.textContent !== msg) err.textContent = msg;
  }

  const chartDefs = [
    { id: "chart-rate", label: "events/s", color: "#2f6fb0", value: (b) => b.inputRate },
    { id: "chart-processing", label: "ms", color: "#5b8c3a", value: (b) => b.processingTimeSeconds * 1000 },
    { id: "chart-delay", label: "ms", color: "#c47f17", value: (b) => b.schedulingDelaySeconds * 1000 },
    { id: "chart-lag", label: "events", color: "#a23b72", value: (b) => b.lag },
  ];

  function chartWidth(el) {
    return Math.max(el.clientWidth || 400, 300);
  }

  function renderCharts(batches) {
    const done = batches.filter((b) => b.outcome === "completed");
    const xs = done.map((b) => new Date(b.time).getTime() / 1000);
    for (const def of chartDefs) {
      const el = $(def.id);
      const data = [xs, done.map(def.value)];
      let u = page.charts[def.id];
      if (!u) {
        u = new uPlot({
          width: chartWidth(el), height: 200,
          legend: { show: true },
          scales: { x: { time: true } },
          series: [{}, { label: def.label, stroke: def.color, fill: def.color + "22", width: 1.5, points: { show: xs.length < 60 } }],
          axes: [{}, { size: 60 }],
        }, data, el);
        page.charts[def.id] = u;
      } else {
        u.setData(data);
      }
      el.dataset.points = String(xs.length);
    }
    page.points = xs.length;
    text("chart-span", xs.length);
  }

  function rangeText(r) {
    let s = r.partition + ": " + r.from + "–" + r.until;
    if (r.resetFrom) s += " (reset from " + r.resetFrom + ")";
    if (r.skipped) s += " (" + r.skipped + " skipped)";
    return s;
  }

  function renderPartitions(parts) {
    const table = $("partitions");
    const showOwner = parts.some((p) => p.owner || p.note);
    table.classList.toggle("hide-owner", !showOwner);
    const body = document.createElement("tbody");
    for (const p of parts) {
      const tr = document.createElement("tr");
      tr.dataset.partition = p.partition;
      tr.dataset.hub = p.hub;
      if (!p.reading) tr.className = "notreading";
      cell(tr, p.hub, "text");
      cell(tr, p.partition, "c-partition");
      const owner = cell(tr, p.owner || (p.reading ? "" : "-"), "owner text");
      if (p.note) owner.title = p.note;
      if (p.note && !p.reading) owner.textContent = p.note;
      cell(tr, p.next, "c-next");
      cell(tr, p.end, "c-end");
      cell(tr, p.reading ? p.lag : "-", "c-lag");
      cell(tr, p.lastBatch || "-", "c-last");
      cell(tr, p.events, "c-events");
      cell(tr, p.skipped, "c-skipped");
      body.appendChild(tr);
    }
    table.replaceChild(body, table.tBodies[0]);
  }

  const RECENT = 50;

  function renderBatches(batches) {
    const table = $("batches");
    const body = document.createElement("tbody");
    for (const b of batches.slice(-RECENT).reverse()) {
      const tr = document.createElement("tr");
      tr.className = b.outcome;
      tr.dataset.batch = String(b.number);
      const num = cell(tr, b.number, "text");
      if (b.replay) {
        const mark = document.createElement("span");
        mark.className = "replay";
        mark.textContent = "replay";
        mark.title = "run again after a restart, with the ranges it had";
        num.appendChild(mark);
      }
      cell(tr, clock(b.time));
      cell(tr, b.outcome + (b.attempt ? " #" + b.attempt : "") + (b.retrying ? ", retried" : ""), "text");
      cell(tr, b.outcome === "completed" ? b.events : "");
      cell(tr, b.outcome === "completed" ? b.inputRate.toFixed(1) : "");
      cell(tr, b.rateLimit ? b.rateLimit : "");
      cell(tr, ms(b.schedulingDelaySeconds));
      cell(tr, ms(b.processingTimeSeconds));
      cell(tr, b.lag);
      cell(tr, b.ranges.map(rangeText).join("  "), "ranges");
      cell(tr, b.error || "", "err");
      body.appendChild(tr);
    }
    table.replaceChild(body, table.tBodies[0]);
  }

  function connection(ok, why) {
    const c = $("conn");
    c.classList.toggle("down", !ok);
    const s = ok ? "live, updated " + new Date().toLocaleTimeString([], { hour12: false }) : "cannot reach the stream (" + why + "); retrying";
    c.textContent = s;
  }

  async function refresh() {
    try {
      const [status, batches, parts] = await Promise.all([getJSON("api/status"), getJSON("api/batches"), getJSON("api/partitions")]);
      renderStatus(status);
      renderCharts(batches);
      renderPartitions(parts);
      renderBatches(batches);
      page.updates++;
      document.body.dataset.updates = String(page.updates);
      connection(true);
    } catch (e) {
      connection(false, e.message);
    } finally {
      setTimeout(refresh, POLL_MS);
    }
  }

  window.addEventListener("resize", () => {
    for (const def of chartDefs) {
      const u = page.charts[def.id];
      if (u) u.setSize({ width: chartWidth($(def.id)), height: 200 });
    }
  });

  refresh();
})();
