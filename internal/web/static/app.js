// medledger dashboard: progressive enhancements only. Every page works
// and reads without this file; it draws the access-volume chart (uPlot,
// loaded on demand) and moves focus to the main content after htmx
// swaps that replace it.
(function () {
  "use strict";

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  function loadStyle(href) {
    var l = document.createElement("link");
    l.rel = "stylesheet";
    l.href = href;
    document.head.appendChild(l);
  }

  function drawVolume(el) {
    var data;
    try {
      data = JSON.parse(el.dataset.chart);
    } catch (e) {
      return;
    }
    var base = document.querySelector('script[src*="app.js"]').src.replace(/app\.js.*$/, "");
    loadStyle(base + "vendor/uPlot.min.css");
    loadScript(base + "vendor/uPlot.iife.min.js").then(function () {
      var width = Math.max(320, Math.min(el.clientWidth || 800, 1100));
      var bars = uPlot.paths.bars({ size: [0.7, 60] });
      var opts = {
        width: width,
        height: 280,
        title: "Audited accesses per day",
        scales: { x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } }, y: { range: function (u, min, max) { return [0, Math.max(5, max * 1.1)]; } } },
        axes: [{}, { label: "accesses" }],
        legend: { live: false },
        series: [
          { label: "day", value: "{YYYY}-{MM}-{DD}" },
          { label: "accesses", stroke: "#0a58ca", fill: "rgba(10,88,202,0.35)", paths: bars, points: { show: false } }
        ]
      };
      new uPlot(opts, [data.x, data.y], el);
      el.dataset.drawn = "true";
    });
  }

  // The browser's own check of an inclusion proof (RFC 6962 / RFC 9162
  // section 2.1.3.2): it trusts neither the node nor the dashboard's
  // server-side check, only the root it is shown (signed by the tree
  // head the page verified) and SHA-256.
  function hex(buf) {
    return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function unhex(s) {
    var out = new Uint8Array(s.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }
  function concat(prefix, a, b) {
    var out = new Uint8Array(1 + a.length + (b ? b.length : 0));
    out[0] = prefix;
    out.set(a, 1);
    if (b) out.set(b, 1 + a.length);
    return out;
  }
  async function sha(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  async function checkInclusion(el) {
    var say = function (cls, msg) {
      el.innerHTML = "";
      var p = document.createElement("p");
      p.className = cls;
      p.setAttribute("role", "status");
      p.id = "browser-check-result";
      p.textContent = msg;
      el.appendChild(p);
    };
    if (!window.crypto || !crypto.subtle) {
      say("muted", "Your browser cannot check the proof itself here: it needs HTTPS (or this computer's own address) for SHA-256.");
      return;
    }
    var raw = Uint8Array.from(atob(el.dataset.raw), function (c) { return c.charCodeAt(0); });
    var fn = Number(el.dataset.index), sn = Number(el.dataset.size) - 1;
    var path = el.dataset.hashes ? el.dataset.hashes.split(",") : [];
    var r = await sha(concat(0, raw));
    for (var i = 0; i < path.length; i++) {
      var p = unhex(path[i]);
      if (sn === 0) { r = null; break; }
      if (fn % 2 === 1 || fn === sn) {
        r = await sha(concat(1, p, r));
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await sha(concat(1, r, p));
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (r && sn === 0 && hex(r) === el.dataset.root) {
      say("ok", "✓ Your browser checked it too: hashing the raw transaction up its audit path of " + path.length + " hashes gives the signed root " + el.dataset.root.slice(0, 16) + "…");
    } else {
      say("bad", "✗ Your browser's own check failed: the audit path does not lead from this transaction to the signed root.");
    }
  }

  function enhance(root) {
    var bc = root.querySelector && root.querySelector("#browser-check");
    if (bc && !bc.dataset.done) {
      bc.dataset.done = "true";
      checkInclusion(bc);
    }
    var el = root.querySelector && root.querySelector("#volume-chart");
    if (el && !el.dataset.drawn) {
      drawVolume(el);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
  });
  document.addEventListener("htmx:afterSwap", function (ev) {
    enhance(ev.target);
  });
})();
