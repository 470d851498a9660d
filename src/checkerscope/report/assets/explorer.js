/* checkerscope explorer: draws the panels of the overlap explorer page.
 * Needs overlap.js (window.checkerscope). No framework, no network. */
(function () {
  "use strict";

  var cs = window.checkerscope;
  var SVG = "http://www.w3.org/2000/svg";
  var METHOD_NAMES = {
    deconv: "deconvolution",
    nearest: "nearest resize + conv",
    bilinear: "bilinear resize + conv",
    subpixel: "sub-pixel",
  };

  function $(id) {
    return document.getElementById(id);
  }

  function intValue(id) {
    return parseInt($(id).value, 10);
  }

  /* Numbers as shown: integers plainly, others with up to 3 decimals, infinity as ∞. */
  function fmt(v) {
    if (v === Infinity) return "\u221e";
    if (Number.isNaN(v)) return "n/a";
    if (Math.abs(v - Math.round(v)) < 1e-9) return String(Math.round(v));
    return String(Number(v.toFixed(3)));
  }

  function ratio(u) {
    return fmt(u) + " : 1";
  }

  function json(v) {
    return JSON.stringify(v, function (k, x) {
      return x === Infinity ? "Infinity" : x;
    });
  }

  /* Sequential shading: light paper to dark ink-blue as t goes 0 -> 1. */
  function shade(t) {
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    var light = 97 - 72 * t;
    return "hsl(212, " + Math.round(35 + 30 * t) + "%, " + light.toFixed(1) + "%)";
  }

  function inkFor(t) {
    return t > 0.5 ? "#ffffff" : "#1d232b";
  }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgRoot(width, height, minPx) {
    var svg = el("svg", {
      viewBox: "0 0 " + width + " " + height,
      width: width,
      height: height,
      "aria-hidden": "true",
      focusable: "false",
    });
    if (minPx) svg.style.minWidth = Math.min(width, minPx) + "px";
    return svg;
  }

  function maxOf(a) {
    var m = 0;
    for (var i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
    return m;
  }

  function setStat(id, text, data) {
    var node = $(id);
    node.textContent = text;
    if (data !== undefined) node.setAttribute("data-value", json(data));
  }

  /* An unevenness stat: "max : min", plus a visible note when some outputs get nothing. */
  function setRatio(id, u) {
    setStat(id, ratio(u), u);
    $(id).setAttribute("data-unevenness", json(u));
    var gap = $(id + "-gap");
    if (gap) gap.hidden = u !== Infinity;
  }

  function bindSlider(id, onChange) {
    var input = $(id);
    var out = $(id + "-value");
    var sync = function () {
      if (out) out.textContent = input.value;
      onChange();
    };
    input.addEventListener("input", sync);
    input.addEventListener("change", sync);
    return sync;
  }

  function guarded(errorId, fn) {
    return function () {
      var box = errorId ? $(errorId) : null;
      try {
        fn();
        if (box) box.hidden = true;
      } catch (err) {
        if (!box) throw err;
        box.textContent = err.message;
        box.hidden = false;
      }
    };
  }

  /* ---- panel 1: 1-D paint ---------------------------------------------------------- */

  function draw1d() {
    var k = intValue("d1-kernel");
    var s = intValue("d1-stride");
    var n = intValue("d1-input");
    var layers = [{ type: "deconv", kernel: k, stride: s }];
    var r = cs.overlap1d(layers, n);
    var full = r.full;
    var m = full.length;
    var cw = 26;
    var pad = 6;
    var top = 8;
    var inH = 22;
    var gap = 56;
    var outY = top + inH + gap;
    var outH = 26;
    var width = m * cw + 2 * pad;
    var height = outY + outH + 24;
    var svg = svgRoot(width, height, m * 16);
    var hi = maxOf(full);
    // brushes: one translucent trapezoid per input cell, from the input to its window
    for (var i = 0; i < n; i++) {
      var start = i * s;
      var cx = pad + (start + k / 2) * cw;
      var g = el("g", { class: "cs-brush", "data-input": i });
      g.appendChild(
        el("polygon", {
          points: [
            cx - cw * 0.35 + "," + (top + inH),
            cx + cw * 0.35 + "," + (top + inH),
            pad + (start + k) * cw - 1 + "," + outY,
            pad + start * cw + 1 + "," + outY,
          ].join(" "),
          class: "cs-paint",
        })
      );
      g.appendChild(
        el("rect", {
          x: cx - cw * 0.4,
          y: top,
          width: cw * 0.8,
          height: inH,
          rx: 3,
          class: "cs-in-cell",
        })
      );
      g.appendChild(el("title", {}, "input " + i + " paints outputs " + start + "\u2013" + (start + k - 1)));
      svg.appendChild(g);
    }
    for (var j = 0; j < m; j++) {
      var t = hi ? full[j] / hi : 0;
      svg.appendChild(
        el("rect", {
          x: pad + j * cw + 1,
          y: outY,
          width: cw - 2,
          height: outH,
          fill: shade(t),
          class: "cs-out-cell",
        })
      );
      svg.appendChild(
        el(
          "text",
          { x: pad + (j + 0.5) * cw, y: outY + outH + 16, class: "cs-count", "data-index": j },
          fmt(full[j])
        )
      );
    }
    var fig = $("d1-figure");
    fig.replaceChildren(svg);
    fig.setAttribute(
      "aria-label",
      n + " input cells, kernel " + k + ", stride " + s + ": output coverage " + full.map(fmt).join(" ")
    );
    fig.setAttribute("data-full", json(full));
    fig.setAttribute("data-layers", json(layers));
    setStat("d1-pattern", r.pattern.map(fmt).join(" "), r.pattern);
    setStat("d1-period", String(r.period[0]), r.period);
    setRatio("d1-unevenness", r.unevenness);
    var note;
    if (k % s === 0) {
      note = "Kernel " + k + " is a multiple of stride " + s + ": every output away from the ends gets " +
        fmt(k / s) + " coat" + (k / s === 1 ? "" : "s") + " of paint.";
    } else if (k < s) {
      note = "Kernel " + k + " is smaller than stride " + s + ": the windows leave gaps, some outputs get no paint at all.";
    } else {
      note = "Kernel " + k + " is not a multiple of stride " + s + ": the overlap is uneven, " +
        ratio(r.unevenness) + ".";
    }
    $("d1-note").textContent = note;
  }

  /* ---- heat maps (SVG, numbers in cells) -------------------------------------------- */

  function heatSvg(grid, cell, label) {
    var rows = grid.length;
    var cols = grid[0].length;
    var flat = [].concat.apply([], grid);
    var hi = maxOf(flat);
    var svg = svgRoot(cols * cell + 2, rows * cell + 2, cols * 12);
    var fontSize = Math.max(7, Math.min(14, cell * 0.5));
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var t = hi ? grid[r][c] / hi : 0;
        svg.appendChild(
          el("rect", { x: 1 + c * cell, y: 1 + r * cell, width: cell, height: cell, fill: shade(t), class: "cs-heat-cell" })
        );
        svg.appendChild(
          el(
            "text",
            {
              x: 1 + (c + 0.5) * cell,
              y: 1 + (r + 0.5) * cell,
              "font-size": fontSize,
              fill: inkFor(t),
              class: "cs-heat-count",
              "data-row": r,
              "data-col": c,
            },
            fmt(grid[r][c])
          )
        );
      }
    }
    if (label) svg.appendChild(el("title", {}, label));
    return svg;
  }

  /* ---- panel 2: 2-D heat map -------------------------------------------------------- */

  function draw2d() {
    var k = intValue("d2-kernel");
    var s = intValue("d2-stride");
    var padInput = $("d2-padding");
    var n0 = intValue("d2-input");
    // torch needs a non-empty output: (n - 1) * s - 2p + k >= 1
    var maxPad = Math.max(0, Math.min(k - 1, Math.floor(((n0 - 1) * s + k - 1) / 2)));
    if (String(maxPad) !== padInput.max) {
      padInput.max = String(maxPad);
      $("d2-padding-value").textContent = padInput.value;
    }
    var p = intValue("d2-padding");
    var n = intValue("d2-input");
    var layers = [{ type: "deconv", kernel: k, stride: s, padding: p }];
    var r = cs.overlap2d(layers, [n, n]);
    var full = r.full;
    var map = $("d2-map");
    map.replaceChildren(heatSvg(full, 28, "coverage map"));
    map.setAttribute("data-full", json(full));
    map.setAttribute("data-layers", json(layers));
    map.setAttribute(
      "aria-label",
      "Coverage of a " + full.length + " by " + full[0].length + " output; steady-state ratio " + ratio(r.unevenness)
    );
    var tile = $("d2-tile");
    tile.replaceChildren(heatSvg(r.pattern, 40, "one period"));
    tile.setAttribute("data-pattern", json(r.pattern));
    setRatio("d2-unevenness", r.unevenness);
    setStat("d2-period", r.period.join(" \u00d7 "), r.period);
    setStat("d2-shape", full.length + " \u00d7 " + full[0].length, [full.length, full[0].length]);
  }

  /* ---- panel 3: stacks -------------------------------------------------------------- */

  function pySpec(L) {
    switch (L.type) {
      case "deconv":
        return "cs.Deconv(" + L.kernel + ", " + L.stride + ")";
      case "conv":
        return "cs.Conv(" + L.kernel + (L.padding ? ", padding=" + L.padding : "") + ")";
      case "resize":
        return "cs.Resize(" + L.scale + (L.mode === "bilinear" ? ', mode="bilinear"' : "") + ")";
      default:
        return "cs.PixelShuffle(" + L.scale + ")";
    }
  }

  function drawBars(pattern) {
    var P = pattern.length;
    var bw = Math.max(4, Math.min(36, Math.floor(560 / P)));
    var H = 120;
    var labels = P <= 32;
    var svg = svgRoot(P * bw + 2, H + (labels ? 18 : 4), Math.min(P * bw, 280));
    var hi = maxOf(pattern);
    for (var r = 0; r < P; r++) {
      var h = hi ? (pattern[r] / hi) * (H - 8) : 0;
      svg.appendChild(
        el("rect", { x: 1 + r * bw + 1, y: H - h, width: bw - 2, height: h, fill: shade(hi ? pattern[r] / hi : 0), class: "cs-bar" })
      );
      if (labels) {
        svg.appendChild(
          el("text", { x: 1 + (r + 0.5) * bw, y: H + 14, class: "cs-bar-label", "font-size": Math.min(12, bw * 0.5) }, fmt(pattern[r]))
        );
      }
    }
    return svg;
  }

  function drawStrip(full) {
    var m = full.length;
    var cw = m <= 48 ? 22 : Math.max(2, Math.floor(1100 / m));
    var labels = m <= 48;
    var svg = svgRoot(m * cw + 2, 28 + (labels ? 16 : 0), Math.min(m * cw, labels ? m * 19 : 300));
    var hi = maxOf(full);
    for (var j = 0; j < m; j++) {
      var t = hi ? full[j] / hi : 0;
      svg.appendChild(el("rect", { x: 1 + j * cw, y: 1, width: cw, height: 26, fill: shade(t), class: cw >= 6 ? "cs-strip-cell" : "" }));
      if (labels) {
        svg.appendChild(el("text", { x: 1 + (j + 0.5) * cw, y: 40, class: "cs-count", "font-size": 11 }, fmt(full[j])));
      }
    }
    return svg;
  }

  function drawHeatCanvas(pattern) {
    var canvas = $("st-heat");
    var P = pattern.length;
    var reps = Math.max(2, Math.ceil(8 / P));
    var side = P * reps;
    var cell = Math.max(1, Math.floor(240 / side));
    var size = side * cell;
    canvas.width = size;
    canvas.height = size;
    var ctx = canvas.getContext("2d");
    var hi = maxOf(pattern) * maxOf(pattern);
    for (var y = 0; y < side; y++) {
      for (var x = 0; x < side; x++) {
        var v = pattern[y % P] * pattern[x % P];
        ctx.fillStyle = shade(hi ? v / hi : 0);
        ctx.fillRect(x * cell, y * cell, cell, cell);
        if (cell >= 22) {
          ctx.fillStyle = inkFor(hi ? v / hi : 0);
          ctx.font = Math.min(14, Math.round(cell * 0.4)) + "px system-ui, sans-serif";
          ctx.textAlign = "center";
          ctx.textBaseline = "middle";
          ctx.fillText(fmt(v), (x + 0.5) * cell, (y + 0.5) * cell);
        }
      }
    }
  }

  function stackLayers() {
    var count = intValue("st-count");
    var layers = [];
    var stages = [];
    for (var i = 1; i <= 4; i++) {
      var active = i <= count;
      var row = $("st-layer-" + i);
      row.hidden = !active;
      row.disabled = !active;
      if (!active) continue;
      var method = $("st-method-" + i).value;
      var k = intValue("st-kernel-" + i);
      var f = intValue("st-factor-" + i);
      var stage = cs.methodLayers(method, k, f);
      stages.push({ method: method, kernel: k, factor: f, layers: stage });
      layers = layers.concat(stage);
    }
    return { layers: layers, stages: stages };
  }

  function drawStack() {
    var st = stackLayers();
    var layers = st.layers;
    var box = $("st-stats");
    $("st-python").textContent = "cs.overlap([" + layers.map(pySpec).join(", ") + "], dims=2)";
    box.setAttribute("data-layers", json(layers));
    var one = cs.steady1d(layers);
    var two = cs.steady2d(layers);
    setStat("st-period", String(one.period), [one.period]);
    setStat("st-structural", String(one.structuralPeriod), [one.structuralPeriod]);
    setRatio("st-uneven-1d", one.unevenness);
    setRatio("st-uneven-2d", two.unevenness);
    box.setAttribute("data-pattern", json(one.pattern));
    box.setAttribute("data-unevenness", json(one.unevenness));
    box.setAttribute("data-unevenness-2d", json(two.unevenness));
    box.setAttribute("data-period-2d", json(two.period));
    var shown = one.pattern.length <= 64 ? one.pattern.map(fmt).join(" ") : one.pattern.slice(0, 64).map(fmt).join(" ") + " \u2026";
    $("st-pattern").textContent = shown;
    $("st-bars").replaceChildren(drawBars(one.pattern));
    $("st-bars").setAttribute("aria-label", "one period of the 1-D pattern: " + shown);
    drawHeatCanvas(one.pattern);
    $("st-heat").setAttribute(
      "aria-label",
      "2-D pattern with period " + two.period.join(" by ") + ", unevenness " + ratio(two.unevenness)
    );
    // per-stage table: each stage alone
    var rowsHtml = st.stages
      .map(function (stage, idx) {
        var alone = cs.steady1d(stage.layers);
        return (
          "<tr><td>" + (idx + 1) + "</td><td>" + METHOD_NAMES[stage.method] + ", k" + stage.kernel +
          " \u00d7" + stage.factor + '</td><td class="cs-num">' + alone.period + '</td><td class="cs-num">' +
          ratio(alone.unevenness) + "</td></tr>"
        );
      })
      .join("");
    $("st-table").innerHTML =
      '<div class="cs-table-wrap"><table class="cs-table" id="st-stage-table"><caption>Each layer on its own (1-D)</caption>' +
      '<thead><tr><th scope="col">layer</th><th scope="col">method, kernel, factor</th>' +
      '<th scope="col" class="cs-num">period</th><th scope="col" class="cs-num">unevenness</th></tr></thead>' +
      "<tbody>" + rowsHtml + "</tbody></table></div>";
    // the finite map last: it is the part that can fail (input too short for the stack)
    var strip = $("st-strip");
    strip.setAttribute("data-input", String(intValue("st-input")));
    strip.replaceChildren();
    strip.removeAttribute("data-full");
    var full = cs.full1d(layers, intValue("st-input"));
    strip.setAttribute("data-full", json(full));
    strip.replaceChildren(drawStrip(full));
  }

  /* ---- panel 4: matrices ------------------------------------------------------------ */

  var OPERATORS = [
    ["deconv3", "Deconvolution, kernel 3, stride 2", "padding 1, output padding 1"],
    ["deconv4", "Deconvolution, kernel 4, stride 2", "padding 1"],
    ["nearest", "Nearest resize \u00d72, then conv k3", "conv padding 1"],
    ["bilinear", "Bilinear resize \u00d72, then conv k3", "align_corners=False, conv padding 1"],
    ["subpixel", "Sub-pixel: conv k3 to 2 channels, shuffle", "conv padding 1"],
  ];

  function coefText(c) {
    var table = { 0.25: "\u00bc", 0.5: "\u00bd", 0.75: "\u00be", 1: "" };
    if (table[c] !== undefined) return table[c];
    return fmt(c);
  }

  function entryText(entry) {
    var parts = [];
    for (var tap in entry.terms) parts.push(coefText(entry.terms[tap]) + tap);
    return parts.join("+");
  }

  function drawMatrix(key, title, note) {
    var M = cs.operatorMatrix(key, 4);
    var longest = 1;
    M.entries.forEach(function (row) {
      row.forEach(function (e) {
        longest = Math.max(longest, entryText(e).length);
      });
    });
    var cw = Math.max(40, Math.round(8.5 * longest + 14));
    var ch = 24;
    var left = 24;
    var topH = 20;
    var sumW = 34;
    var width = left + M.cols * cw + sumW + 6;
    var height = topH + M.rows * ch + 4;
    var svg = svgRoot(width, height);
    var hi = 0;
    M.entries.forEach(function (row) {
      row.forEach(function (e) {
        if (e.sum > hi) hi = e.sum;
      });
    });
    for (var c = 0; c < M.cols; c++) {
      svg.appendChild(el("text", { x: left + (c + 0.5) * cw, y: 14, class: "cs-axis" }, "x" + c));
    }
    svg.appendChild(el("text", { x: left + M.cols * cw + sumW / 2 + 4, y: 14, class: "cs-axis" }, "\u03a3"));
    for (var r = 0; r < M.rows; r++) {
      var y = topH + r * ch;
      svg.appendChild(el("text", { x: left - 4, y: y + ch / 2, class: "cs-axis cs-axis-row" }, "y" + r));
      for (c = 0; c < M.cols; c++) {
        var e = M.entries[r][c];
        var t = hi ? e.sum / hi : 0;
        svg.appendChild(el("rect", { x: left + c * cw, y: y, width: cw, height: ch, fill: e.sum ? shade(0.15 + 0.7 * t) : "#ffffff", class: "cs-mat-cell" }));
        if (e.sum) {
          svg.appendChild(
            el(
              "text",
              { x: left + (c + 0.5) * cw, y: y + ch / 2, class: "cs-mat-entry", fill: inkFor(0.15 + 0.7 * t), "data-row": r, "data-col": c },
              entryText(e)
            )
          );
        }
      }
      svg.appendChild(el("text", { x: left + M.cols * cw + sumW / 2 + 4, y: y + ch / 2, class: "cs-mat-sum", "data-row": r }, fmt(M.rowSums[r])));
    }
    svg.appendChild(el("rect", { x: left, y: topH, width: M.cols * cw, height: M.rows * ch, class: "cs-mat-frame" }));
    var fig = document.createElement("figure");
    fig.className = "cs-matrix";
    fig.id = "matrix-" + key;
    fig.setAttribute("data-row-sums", json(M.rowSums));
    fig.setAttribute("data-taps", json(M.taps));
    var box = document.createElement("div");
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", title + ": row sums " + M.rowSums.map(fmt).join(", "));
    box.appendChild(svg);
    var cap = document.createElement("figcaption");
    var strong = document.createElement("b");
    strong.textContent = title;
    cap.appendChild(strong);
    cap.appendChild(document.createTextNode(" (" + note + "). Σ per output: " + M.rowSums.map(fmt).join(" ")));
    fig.appendChild(box);
    fig.appendChild(cap);
    return fig;
  }

  function drawMatrices() {
    var grid = $("matrices-grid");
    grid.replaceChildren.apply(
      grid,
      OPERATORS.map(function (o) {
        return drawMatrix(o[0], o[1], o[2]);
      })
    );
  }

  /* ---- wiring ----------------------------------------------------------------------- */

  function init() {
    var u1 = guarded(null, draw1d);
    ["d1-kernel", "d1-stride", "d1-input"].forEach(function (id) {
      bindSlider(id, u1);
    });
    var u2 = guarded("d2-error", draw2d);
    ["d2-kernel", "d2-stride", "d2-padding", "d2-input"].forEach(function (id) {
      bindSlider(id, u2);
    });
    var u3 = guarded("st-error", drawStack);
    bindSlider("st-count", u3);
    bindSlider("st-input", u3);
    for (var i = 1; i <= 4; i++) {
      bindSlider("st-kernel-" + i, u3);
      bindSlider("st-factor-" + i, u3);
      $("st-method-" + i).addEventListener("change", u3);
    }
    u1();
    u2();
    u3();
    drawMatrices();
    document.body.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
