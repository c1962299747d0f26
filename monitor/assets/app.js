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
    renderWholeJob(s);
    stat("stat-processing", s.processingTime);
    stat("stat-delay", s.schedulingDelay);
  }

  // stat shows the average and 95th percentile of a chart's figure.
  function stat(id, sum) {
    const e = $(id);
    e.dataset.batches = String(sum.batches);
    text(id, sum.batches ? "avg " + ms(sum.meanSeconds) + " · p95 " + ms(sum.p95Seconds) : "");
  }

  function renderWholeJob(s) {
    const j = s.wholeJob;
    page.status = s;
    let parts = s.partitions + " read here";
    let rounds = "";
    if (j && j.shared) {
      parts += j.unowned ? ", " + j.unowned + " without a live owner" : ", every one with a live owner";
      rounds = j.renewals + " renewed the claims" + (j.failedRenewals ? ", " + j.failedRenewals + " failed" : "") +
        " (every " + age(j.updateIntervalSeconds) + ", claims expire after " + age(j.expirationSeconds) + ")";
    }
    if (j && j.error) parts += "; the last view of the job failed: " + j.error;
    text("s-partitions", parts);
    text("s-rounds", rounds);
    const banner = $("orphaned");
    let msg = "";
    if (j && j.orphaned && j.orphaned.length) {
      msg = (j.orphaned.length === 1 ? "Partition " : "Partitions ") + j.orphaned.join(", ") +
        " of " + s.hub + " have had no live owner for longer than the claims' expiration (" + age(j.expirationSeconds) +
        "): no replica took them over, and nobody reads them. Check the replicas and the ownership store.";
    }
    banner.hidden = msg === "";
    banner.dataset.partitions = j && j.orphaned ? j.orphaned.join(",") : "";
    if (banner.textContent !== msg) banner.textContent = msg;
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
    page.done = done;
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
        // A click on a chart shows the batch under the cursor.
        u.over.addEventListener("click", () => {
          const i = u.cursor.idx;
          if (i !== null && i !== undefined && page.done[i]) select(page.done[i].number);
        });
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

  function age(seconds) {
    return seconds < 60 ? seconds.toFixed(1) + " s" : duration(seconds);
  }

  // ownerText says who reads a partition: this replica, another, or
  // nobody since when; the title says more.
  function ownerText(p, s) {
    const j = s && s.wholeJob;
    if (!j || !j.shared) {
      const o = p.owner || (p.reading ? "" : "-");
      return [p.note && !p.reading ? p.note : o, p.note || ""];
    }
    const renewed = p.renewed ? "claim renewed " + age(secondsSince(p.renewed)) + " ago" : "";
    if (p.live) return [p.owner === s.owner ? p.owner + " (this replica)" : p.owner, renewed + (p.note ? "; " + p.note : "")];
    if (!p.noOwnerSince) return ["?", "the ownership records could not be read"];
    let why = p.owner ? p.owner + " last renewed its claim " + age(secondsSince(p.renewed)) + " ago" : p.renewed ? "relinquished" : "never claimed";
    return ["none since " + clock(p.noOwnerSince) + " (" + why + ")", "no replica has renewed a claim within 1.5 update intervals" + (p.note ? "; " + p.note : "")];
  }

  function secondsSince(iso) {
    return Math.max((Date.now() - new Date(iso).getTime()) / 1000, 0);
  }

  function renderPartitions(parts) {
    const table = $("partitions");
    const s = page.status;
    const whole = !!(s && s.wholeJob);
    const orphaned = whole && s.wholeJob.orphaned ? s.wholeJob.orphaned : [];
    const showOwner = parts.some((p) => p.owner || p.note) || (whole && s.wholeJob.shared);
    table.classList.toggle("hide-owner", !showOwner);
    const body = document.createElement("tbody");
    for (const p of parts) {
      const tr = document.createElement("tr");
      tr.dataset.partition = p.partition;
      tr.dataset.hub = p.hub;
      const unowned = whole && s.wholeJob.shared && !p.live && !!p.noOwnerSince;
      tr.dataset.live = String(!unowned);
      if (!p.reading) tr.className = "notreading";
      if (unowned) tr.className = orphaned.includes(p.partition) ? "orphaned" : "unowned";
      cell(tr, p.hub, "text");
      cell(tr, p.partition, "c-partition");
      const [who, title] = ownerText(p, s);
      const owner = cell(tr, who, "owner text c-owner");
      if (title) owner.title = title;
      const known = p.reading || whole;
      cell(tr, known ? p.next : "-", "c-next");
      cell(tr, known ? p.end : "-", "c-end");
      cell(tr, known ? p.lag : "-", "c-lag");
      const unread = cell(tr, p.lagSeconds === undefined ? (p.unreadError ? "?" : "-") : age(p.lagSeconds), "c-age");
      if (p.unreadError) unread.title = p.unreadError;
      if (p.oldestUnread) unread.title = "enqueued " + clock(p.oldestUnread);
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
      tr.className = b.outcome + (b.number === page.selected ? " selected" : "");
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

  // select shows batch number's detail, kept until another is chosen or
  // it is closed.
  function select(number) {
    page.selected = number;
    renderDetail(page.batches || []);
    renderBatches(page.batches || []);
  }

  function renderDetail(batches) {
    const sec = $("batch-detail");
    const n = page.selected;
    const same = batches.filter((b) => b.number === n);
    const b = same.find((x) => x.outcome === "completed") || same[same.length - 1] || (page.shown && page.shown.number === n ? page.shown : undefined);
    sec.hidden = n === undefined || !b;
    if (sec.hidden) return;
    page.shown = b;
    sec.dataset.batch = String(b.number);
    text("d-number", b.number + (b.replay ? " (replay)" : ""));
    text("d-due", clock(b.time));
    text("d-outcome", b.outcome + (b.error ? ": " + b.error : ""));
    text("d-events", b.events + (b.skipped ? " (" + b.skipped + " skipped)" : ""));
    text("d-processing", ms(b.processingTimeSeconds));
    text("d-delay", ms(b.schedulingDelaySeconds));
    text("d-lag", b.lag);
    const ranges = document.createElement("tbody");
    for (const r of b.ranges) {
      const tr = document.createElement("tr");
      tr.dataset.partition = r.partition;
      cell(tr, r.partition, "text");
      cell(tr, r.from, "c-from");
      cell(tr, r.until, "c-until");
      cell(tr, r.events, "c-events");
      cell(tr, r.skipped || 0, "c-skipped");
      cell(tr, r.lag, "c-lag");
      ranges.appendChild(tr);
    }
    $("d-ranges").replaceChild(ranges, $("d-ranges").tBodies[0]);
    const outs = document.createElement("tbody");
    for (const o of b.outputs || []) {
      const tr = document.createElement("tr");
      cell(tr, o.name, "text c-name");
      cell(tr, ms(o.seconds), "c-time");
      outs.appendChild(tr);
    }
    $("d-outputs").replaceChild(outs, $("d-outputs").tBodies[0]);
  }

  $("batches").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-batch]");
    if (tr) select(Number(tr.dataset.batch));
  });
  $("d-close").addEventListener("click", () => select(undefined));

  function connection(ok, why) {
    const c = $("conn");
    c.classList.toggle("down", !ok);
    const s = ok ? "live, updated " + new Date().toLocaleTimeString([], { hour12: false }) : "cannot reach the stream (" + why + "); retrying";
    c.textContent = s;
  }

  async function refresh() {
    try {
      const [status, batches, parts] = await Promise.all([getJSON("api/status"), getJSON("api/batches"), getJSON("api/partitions")]);
      page.batches = batches;
      renderStatus(status);
      renderCharts(batches);
      renderPartitions(parts);
      renderBatches(batches);
      renderDetail(batches);
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
