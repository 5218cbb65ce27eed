"use strict";
(function () {
  // The token came in the page's URL; it goes with every request and is
  // taken out of the address bar.
  var token = new URLSearchParams(location.search).get("token") || "";
  history.replaceState(null, "", location.pathname);
  var q = "?token=" + encodeURIComponent(token);
  var $ = function (id) { return document.getElementById(id); };

  function bytes(n) {
    if (n == null || n < 0) return "–";
    var u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : Math.round(n)) + " " + u[i];
  }
  function short(id) { return id.length > 14 ? id.slice(0, 6) + "…" + id.slice(-6) : id; }
  function pct(x) { return (100 * x).toFixed(x > 0.999 && x < 1 ? 2 : 1) + "%"; }
  function when(t) {
    if (!t || t.indexOf("0001-") === 0) return "never";
    var s = (Date.now() - Date.parse(t)) / 1000;
    if (s < 0) return "in " + ago(-s);
    return ago(s) + " ago";
  }
  function ago(s) {
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    if (s < 129600) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " d";
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    var tr = el("tr");
    cells.forEach(function (c) {
      var td = el("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(tbody, rows) { tbody.replaceChildren.apply(tbody, rows); }
  function dl(node, pairs) {
    var kids = [];
    pairs.forEach(function (p) { kids.push(el("dt", p[0]), el("dd", String(p[1]))); });
    node.replaceChildren.apply(node, kids);
  }
  function bar(node, parts) {
    var total = parts.reduce(function (a, p) { return a + p[0]; }, 0);
    node.replaceChildren.apply(node, parts.filter(function (p) { return p[0] > 0; }).map(function (p) {
      var s = el("span");
      s.style.width = (100 * p[0] / total) + "%";
      s.style.background = p[1];
      s.title = p[2];
      return s;
    }));
  }

  function members(s) {
    $("member-count").textContent = s.up;
    var away = s.members.length - s.up;
    $("member-sub").textContent = away ? away + " away" : "all connected";
    fill($("members"), s.members.map(function (m) {
      var id = el("span", short(m.id), "mono");
      id.title = m.id;
      var who = el("span");
      who.appendChild(id);
      if (m.self) who.appendChild(el("span", " this node", "self"));
      var a = m.audits || {};
      var audits = m.self ? "–" : (a.passed || 0) + " ok" + ((a.failed || a.missing || a.timed_out) ? ", " + ((a.failed || 0) + (a.missing || 0) + (a.timed_out || 0)) + " bad" : "");
      var state = el("span", m.away ? "away " + when(m.since).replace(" ago", "") : "up", "state");
      var tr = row([who, m.zone || "–", m.self ? "–" : pct(m.reliability), bytes(m.free), audits, state]);
      tr.dataset.peer = m.id;
      tr.dataset.state = m.away ? "away" : "up";
      return tr;
    }));
  }

  function chart(rates) {
    // Drawn at the size it is shown, so that the text is not stretched.
    var svg = $("chart"), W = Math.max(svg.clientWidth || 600, 100), H = 160, ns = "http://www.w3.org/2000/svg";
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var max = 1;
    rates.forEach(function (r) { max = Math.max(max, r.in, r.out); });
    var kids = [];
    for (var i = 1; i <= 3; i++) {
      var y = H - H * i / 4;
      var g = document.createElementNS(ns, "line");
      g.setAttribute("x1", 0); g.setAttribute("x2", W); g.setAttribute("y1", y); g.setAttribute("y2", y);
      g.setAttribute("class", "grid");
      kids.push(g);
    }
    var label = document.createElementNS(ns, "text");
    label.setAttribute("x", 4); label.setAttribute("y", 12);
    label.textContent = bytes(max) + "/s";
    kids.push(label);
    if (rates.length > 1) {
      var t0 = Date.parse(rates[0].t), t1 = Date.parse(rates[rates.length - 1].t), span = Math.max(t1 - t0, 1);
      ["in", "out"].forEach(function (k) {
        var pts = rates.map(function (r) {
          return ((Date.parse(r.t) - t0) / span * W).toFixed(1) + "," + (H - r[k] / max * (H - 16)).toFixed(1);
        });
        var p = document.createElementNS(ns, "polyline");
        p.setAttribute("points", pts.join(" "));
        p.setAttribute("class", k);
        kids.push(p);
      });
    }
    svg.replaceChildren.apply(svg, kids);
    var last = rates[rates.length - 1];
    $("traffic-now").textContent = last ? "now " + bytes(last.in) + "/s in, " + bytes(last.out) + "/s out · last " + ago((Date.parse(last.t) - Date.parse(rates[0].t)) / 1000) : "sampling…";
  }

  function render(s) {
    $("cloud").textContent = "cloud " + s.cloud;
    $("node").textContent = "node " + s.node;
    $("updated").textContent = "updated " + new Date(s.time).toLocaleTimeString();
    members(s);
    $("cloud-size").textContent = s.size ? s.size.toFixed(1) : "…";
    $("cloud-code").textContent = s.code ? "next file: " + s.code : (s.code_error || "");
    var sp = s.space || {};
    $("space-free").textContent = bytes(sp.free) + " free";
    bar($("space-bar"), [[sp.stored || 0, "var(--in)", "stored"], [Math.max((sp.total || 0) - (sp.free || 0) - (sp.stored || 0), 0), "var(--muted)", "other use"], [sp.free || 0, "var(--line)", "free"]]);
    $("space-sub").textContent = bytes(sp.stored) + " stored of " + bytes(sp.total) + (sp.estimated ? "" : " (this node's view)");
    $("node-stored").textContent = bytes(s.stored_bytes);
    $("node-sub").textContent = (s.quota_bytes ? "quota " + bytes(s.quota_bytes) + " · " : "") + s.files + " files in its catalog";

    var r = s.repairs || {}, h = r.health || [];
    var colors = ["var(--ok)", "var(--warn)", "var(--out)", "var(--bad)"];
    bar($("health-bar"), h.map(function (n, i) { return [n, colors[Math.min(i, 3)], n + (i ? " stripes " + i + " short" : " whole")]; }).concat([[r.below_k || 0, "#000", "below k"]]));
    dl($("repairs"), [["stripes", r.stripes || 0], ["whole", h[0] || 0], ["degraded", h.slice(1).reduce(function (a, b) { return a + b; }, 0)], ["below k", r.below_k || 0],
      ["repair backlog", r.backlog || 0], ["running", r.running || 0], ["done", r.done || 0], ["failed", r.failed || 0], ["peers down", (r.down || 0) + " of " + (r.peers || 0)]]);
    var a = s.audits || {};
    dl($("audits"), [["passed", a.passed || 0], ["failed", a.failed || 0], ["missing", a.missing || 0], ["timed out", a.timed_out || 0],
      ["scrubbed", a.scrubbed || 0], ["scrub corrupt", a.scrub_corrupt || 0], ["repair queue", a.repair_queue || 0]]);

    fill($("drives"), s.drives.length ? s.drives.map(function (d) {
      return row([d.name + " → " + d.mountpoint, bytes(d.pending_bytes) + " in " + d.pending_files + " files", d.upload_total ? pct(d.upload_done / d.upload_total) + " of " + bytes(d.upload_total) : (d.last_error || "idle")]);
    }) : [row(["none mounted", "", ""])]);
    $("backups-card").hidden = !s.backups.length;
    fill($("backups"), s.backups.map(function (b) {
      return row([b.name + " (" + b.schedule + ")", b.running ? "running" : (b.last_error ? "failed: " + b.last_error : when(b.last_ok)), when(b.next)]);
    }));
    $("jobs-card").hidden = !s.jobs.length;
    fill($("jobs"), s.jobs.map(function (j) {
      return row([short(j.id), j.state + (j.error ? ": " + j.error : ""), j.done + "/" + j.tasks]);
    }));
    chart(s.traffic || []);
  }

  function live(state) { var l = $("live"); l.dataset.state = state; l.textContent = state; }
  function poll() {
    fetch("api/snapshot" + q).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (s) { render(s); live("polling"); }, function () { live("lost"); })
      .finally(function () { setTimeout(poll, 2000); });
  }
  if (window.EventSource) {
    var es = new EventSource("api/events" + q), failures = 0;
    es.onmessage = function (e) { failures = 0; live("live"); render(JSON.parse(e.data)); };
    es.onerror = function () {
      live("lost");
      if (++failures > 5 || es.readyState === EventSource.CLOSED) { es.close(); poll(); }
    };
  } else {
    poll();
  }
})();
