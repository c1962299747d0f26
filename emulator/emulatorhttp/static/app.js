// The emulator's status page: draws /api/hubs, and again every few
// seconds. Everything from the emulator goes into the page as text.
"use strict";

const refreshMs = 2000;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? n + " B" : v.toFixed(1) + " " + units[i];
}

function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

function num(v, cls) {
  return el("td", { class: cls ? cls + " num" : "num" }, v);
}

function table(cls, heads, rows) {
  const head = el("tr", {}, ...heads.map(([h, n]) => el("th", n ? { class: "num" } : {}, h)));
  return el("table", { class: cls }, el("thead", {}, head), el("tbody", {}, ...rows));
}

function partitions(hub) {
  const rows = hub.partitions.map((p) => el("tr", { "data-partition": p.id },
    el("td", { class: "id" }, p.id),
    num(p.firstSequenceNumber, "first"),
    num(p.lastSequenceNumber, "last"),
    el("td", { class: "empty" }, p.empty ? "empty" : ""),
    num(p.lastOffset, "offset"),
    el("td", { class: "enqueued" }, when(p.lastEnqueuedTime)),
    el("td", { class: "bytes num", title: p.bytes + " bytes" }, bytes(p.bytes)),
    num(p.eventsIn, "events-in"),
    el("td", { class: "bytes-in num", title: p.bytesIn + " bytes" }, bytes(p.bytesIn)),
    num(p.eventsOut, "events-out"),
    el("td", { class: "bytes-out num", title: p.bytesOut + " bytes" }, bytes(p.bytesOut))));
  return table("partitions", [["Partition"], ["First seq", 1], ["Last seq", 1], [""], ["Last offset", 1],
    ["Last enqueued"], ["Size", 1], ["Events in", 1], ["Bytes in", 1], ["Events out", 1], ["Bytes out", 1]], rows);
}

function groups(hub) {
  const rows = [];
  for (const g of hub.consumerGroups) {
    if (g.readers.length === 0) {
      rows.push(el("tr", { class: "none", "data-group": g.name },
        el("td", { class: "group" }, g.name), el("td", { colspan: 7 }, "no readers")));
      continue;
    }
    for (const r of g.readers) {
      rows.push(el("tr", { "data-group": g.name, "data-partition": r.partition },
        el("td", { class: "group" }, g.name),
        el("td", { class: "partition" }, r.partition),
        el("td", { class: "reader" }, r.name || "(no name)"),
        el("td", { class: "owner-level num" }, r.ownerLevel === null ? "none" : r.ownerLevel),
        el("td", { class: "client" }, r.client),
        num(r.delivered, "delivered"),
        num(r.nextSequenceNumber, "next"),
        el("td", { class: "attached" }, when(r.attached))));
    }
  }
  return table("groups", [["Consumer group"], ["Partition"], ["Reader"], ["Owner level", 1], ["Client"],
    ["Delivered", 1], ["Next seq", 1], ["Attached"]], rows);
}

function hubSection(hub) {
  const retention = hub.retention ? "retention " + hub.retention : "retention forever";
  return el("section", { class: "hub", "data-hub": hub.name },
    el("h2", {}, hub.name),
    el("p", { class: "meta" }, plural(hub.partitions.length, "partition") + " · " + retention +
      " · max event size " + bytes(hub.maxEventSize) + " · created " + when(hub.createdAt)),
    el("h3", {}, "Partitions"), partitions(hub),
    el("h3", {}, "Consumer groups and readers"), groups(hub));
}

// kafkaLine is the summary's part on the Kafka endpoint, "" when it is
// not served.
function kafkaLine(k) {
  if (!k) return "";
  return " · Kafka on " + k.addr + ": " + plural(k.connections, "connection") + ", " + plural(k.requests, "request") +
    ", " + bytes(k.bytesReceived) + " in, " + bytes(k.bytesSent) + " out";
}

function draw(s) {
  const links = Object.entries(s.links).map(([k, v]) => k + " " + v).join(", ");
  const storage = s.dataDir ? "data in " + s.dataDir : "in memory";
  // The Kafka listener has its own part, with its counters.
  const others = s.listeners.slice(1).filter((l) => !(s.kafka && l.transport === "kafka"))
    .map((l) => " · " + l.transport + " on " + l.addr).join("");
  document.getElementById("summary").textContent = "namespace " + s.namespace + " · AMQP on " + s.addr + others +
    " · " + storage + " · " + plural(s.connections, "connection") + " · links: " + links + kafkaLine(s.kafka) +
    " · up since " + when(s.started);
  const parts = [];
  if (s.faults.length > 0) {
    parts.push(el("section", { class: "faults" }, el("h2", {}, "Faults in effect"),
      el("ul", {}, ...s.faults.map((f) => el("li", {}, "#" + f.id + " " + f.kind +
        (f.hub ? " hub " + f.hub : "") + (f.partition ? " partition " + f.partition : "") +
        (f.ends ? " until " + when(f.ends) : " until removed") + ", hits " + f.hits)))));
  }
  parts.push(...s.hubs.map(hubSection));
  document.getElementById("hubs").replaceChildren(...parts);
  document.getElementById("updated").textContent = "Updated " + new Date(s.time).toLocaleTimeString() + ".";
}

async function refresh() {
  const error = document.getElementById("error");
  try {
    const resp = await fetch("api/hubs", { cache: "no-store" });
    if (!resp.ok) throw new Error("GET api/hubs: " + resp.status + " " + resp.statusText);
    draw(await resp.json());
    error.hidden = true;
  } catch (e) {
    error.textContent = "Cannot reach the emulator: " + e.message + " (retrying)";
    error.hidden = false;
  }
  setTimeout(refresh, refreshMs);
}

refresh();
