/* checkerscope overlap engine, JavaScript port for the explorer page.
 *
 * Same definitions as the Python module checkerscope.overlap: the coverage of a stack of
 * layers is its response, with every kernel weight set to one and true interpolation
 * weights, to an input of ones. Torch semantics: conv_transpose with padding and
 * output_padding, interpolate(align_corners=False), pixel shuffle as nearest upsampling.
 *
 * Layer objects: {type: "deconv", kernel, stride, padding, output_padding, dilation}
 *                {type: "conv", kernel, stride, padding, dilation}
 *                {type: "resize", scale, mode: "nearest" | "bilinear"}
 *                {type: "pixelshuffle", scale}
 * Exposed as window.checkerscope.{overlap1d, overlap2d, full1d, steady1d, ...}.
 */
(function (root) {
  "use strict";

  var TOL = 1e-9;

  function fail(msg) {
    throw new RangeError(msg);
  }

  function posInt(v, name, min) {
    var n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(name + " must be an integer >= " + min + ", got " + v);
    return n;
  }

  function gcd(a, b) {
    while (b) {
      var t = a % b;
      a = b;
      b = t;
    }
    return a;
  }

  function close(a, b) {
    if (a === b) return true;
    return Math.abs(a - b) <= TOL * Math.max(1, Math.abs(a), Math.abs(b));
  }

  /* Validate a layer spec and fill in defaults (mirrors the Python dataclasses). */
  function normalize(spec) {
    var t = String(spec.type || "").toLowerCase();
    if (t === "deconv") {
      var L = {
        type: t,
        kernel: posInt(spec.kernel, "kernel", 1),
        stride: posInt(spec.stride === undefined ? 1 : spec.stride, "stride", 1),
        padding: posInt(spec.padding || 0, "padding", 0),
        output_padding: posInt(spec.output_padding || 0, "output_padding", 0),
        dilation: posInt(spec.dilation || 1, "dilation", 1),
      };
      if (L.output_padding >= Math.max(L.stride, L.dilation)) {
        fail("output_padding must be smaller than stride or dilation");
      }
      return L;
    }
    if (t === "conv") {
      return {
        type: t,
        kernel: posInt(spec.kernel, "kernel", 1),
        stride: posInt(spec.stride === undefined ? 1 : spec.stride, "stride", 1),
        padding: posInt(spec.padding || 0, "padding", 0),
        dilation: posInt(spec.dilation || 1, "dilation", 1),
      };
    }
    if (t === "resize") {
      var mode = spec.mode || "nearest";
      if (mode !== "nearest" && mode !== "bilinear") fail("unknown resize mode " + mode);
      return { type: t, scale: posInt(spec.scale, "scale", 1), mode: mode };
    }
    if (t === "pixelshuffle") {
      return { type: t, scale: posInt(spec.scale, "scale", 1) };
    }
    return fail("unknown layer type " + spec.type);
  }

  function zeros(n) {
    var a = new Array(n);
    for (var i = 0; i < n; i++) a[i] = 0;
    return a;
  }

  function ones(n) {
    var a = new Array(n);
    for (var i = 0; i < n; i++) a[i] = 1;
    return a;
  }

  /* Output length of one layer for an input of length n (may be < 1: invalid). */
  function outLength(L, n) {
    switch (L.type) {
      case "deconv":
        return (n - 1) * L.stride - 2 * L.padding + L.dilation * (L.kernel - 1) + L.output_padding + 1;
      case "conv":
        return Math.floor((n + 2 * L.padding - L.dilation * (L.kernel - 1) - 1) / L.stride) + 1;
      default:
        return n * L.scale;
    }
  }

  /* Apply one layer to a 1-D signal; `w` are kernel weights (default: all ones). */
  function apply1d(L, x, w) {
    var n = x.length;
    var m = outLength(L, n);
    if (m < 1) fail("input of length " + n + " is too short for " + describe(L));
    var out = zeros(m);
    var i, t, j;
    if (L.type === "deconv") {
      w = w || ones(L.kernel);
      for (i = 0; i < n; i++) {
        if (x[i] === 0) continue;
        for (t = 0; t < L.kernel; t++) {
          j = i * L.stride + t * L.dilation - L.padding;
          if (j >= 0 && j < m) out[j] += x[i] * w[t];
        }
      }
    } else if (L.type === "conv") {
      w = w || ones(L.kernel);
      for (j = 0; j < m; j++) {
        var acc = 0;
        for (t = 0; t < L.kernel; t++) {
          i = j * L.stride + t * L.dilation - L.padding;
          if (i >= 0 && i < n) acc += x[i] * w[t];
        }
        out[j] = acc;
      }
    } else if (L.type === "pixelshuffle" || (L.type === "resize" && L.mode === "nearest")) {
      for (j = 0; j < m; j++) out[j] = x[Math.floor(j / L.scale)];
    } else {
      // linear interpolation, align_corners=False, source index clamped at 0 (as torch)
      for (j = 0; j < m; j++) {
        var src = (j + 0.5) * (1 / L.scale) - 0.5;
        if (src < 0) src = 0;
        var i0 = Math.floor(src);
        if (i0 > n - 1) i0 = n - 1;
        var i1 = i0 < n - 1 ? i0 + 1 : i0;
        var l1 = src - i0;
        out[j] = (1 - l1) * x[i0] + l1 * x[i1];
      }
    }
    return out;
  }

  function describe(L) {
    switch (L.type) {
      case "deconv":
        return "Deconv(" + L.kernel + ", " + L.stride +
          (L.padding ? ", padding=" + L.padding : "") +
          (L.output_padding ? ", output_padding=" + L.output_padding : "") +
          (L.dilation !== 1 ? ", dilation=" + L.dilation : "") + ")";
      case "conv":
        return "Conv(" + L.kernel + (L.stride !== 1 ? ", stride=" + L.stride : "") +
          (L.padding ? ", padding=" + L.padding : "") +
          (L.dilation !== 1 ? ", dilation=" + L.dilation : "") + ")";
      case "resize":
        return "Resize(" + L.scale + (L.mode !== "nearest" ? ', mode="' + L.mode + '"' : "") + ")";
      default:
        return "PixelShuffle(" + L.scale + ")";
    }
  }

  function normalizeAll(layers) {
    if (!Array.isArray(layers) || layers.length === 0) fail("need at least one layer");
    return layers.map(normalize);
  }

  /* The whole coverage map for a finite 1-D input of length n (zero padding, borders). */
  function full1d(layers, n) {
    var Ls = normalizeAll(layers);
    var x = ones(posInt(n, "input length", 1));
    for (var k = 0; k < Ls.length; k++) x = apply1d(Ls[k], x);
    return x;
  }

  /* Structural period: how the phase grid grows through the stack. */
  function structuralPeriod(Ls) {
    var P = 1;
    for (var k = 0; k < Ls.length; k++) {
      var L = Ls[k];
      if (L.type === "deconv") P *= L.stride;
      else if (L.type === "resize" || L.type === "pixelshuffle") P *= L.scale;
      else if (L.type === "conv") P = P / gcd(P, L.stride);
    }
    return P;
  }

  function patternAt(out, base, P) {
    var p = new Array(P);
    for (var r = 0; r < P; r++) p[r] = out[base + r];
    return p;
  }

  function samePattern(a, b) {
    for (var r = 0; r < a.length; r++) if (!close(a[r], b[r])) return false;
    return true;
  }

  function minimalPeriod(pattern) {
    var P = pattern.length;
    for (var d = 1; d < P; d++) {
      if (P % d) continue;
      var ok = true;
      for (var r = d; r < P && ok; r++) ok = close(pattern[r], pattern[r % d]);
      if (ok) return d;
    }
    return P;
  }

  function unevennessOf(values) {
    var lo = Infinity;
    var hi = -Infinity;
    for (var i = 0; i < values.length; i++) {
      if (values[i] < lo) lo = values[i];
      if (values[i] > hi) hi = values[i];
    }
    if (!(hi > 0)) return NaN; // nothing is covered at all
    if (!(lo > 0)) return Infinity;
    var u = hi / lo;
    return close(u, 1) ? 1 : u;
  }

  /* Steady-state coverage of an infinite input: pattern[r] = coverage at n = r (mod period). */
  function steady1d(layers) {
    var Ls = normalizeAll(layers);
    var P = structuralPeriod(Ls);
    var span = 0;
    var down = 1;
    for (var k = 0; k < Ls.length; k++) {
      var L = Ls[k];
      if (L.type === "deconv" || L.type === "conv") {
        span += (L.dilation * (L.kernel - 1) + 1 + L.padding + L.stride) * down;
        if (L.type === "conv") down *= L.stride;
      } else {
        span += 2 * down;
      }
    }
    var N = 2 * span + 2 * P + 16;
    for (var attempt = 0; attempt < 6; attempt++, N *= 2) {
      var x = ones(N);
      for (k = 0; k < Ls.length; k++) x = apply1d(Ls[k], x);
      var m = x.length;
      if (m < 4 * P) continue;
      var mid = Math.floor(m / 2);
      var base = mid - (mid % P);
      var pat = patternAt(x, base, P);
      var q1 = Math.floor(m / 3);
      var q3 = Math.floor((2 * m) / 3);
      if (
        samePattern(pat, patternAt(x, q1 - (q1 % P), P)) &&
        samePattern(pat, patternAt(x, q3 - (q3 % P), P))
      ) {
        var period = minimalPeriod(pat);
        var pattern = pat.slice(0, period);
        return {
          pattern: pattern,
          period: period,
          structuralPeriod: P,
          unevenness: unevennessOf(pattern),
        };
      }
    }
    return fail("coverage did not settle into a periodic steady state");
  }

  /* 1-D result: full map on an input of n cells plus the steady state. */
  function overlap1d(layers, n) {
    var s = steady1d(layers);
    return {
      full: full1d(layers, n === undefined ? 8 : n),
      pattern: s.pattern,
      period: [s.period],
      structuralPeriod: [s.structuralPeriod],
      unevenness: s.unevenness,
    };
  }

  function outer(a, b) {
    return a.map(function (u) {
      return b.map(function (v) {
        return u * v;
      });
    });
  }

  /* 2-D result (same layers on both axes). With all-ones kernels and separable
   * interpolation the 2-D response of an all-ones input is the outer product of the
   * two 1-D responses, so each axis is computed in 1-D. */
  function steady2d(layers) {
    var s = steady1d(layers);
    var pattern = outer(s.pattern, s.pattern);
    return {
      pattern: pattern,
      period: [s.period, s.period],
      structuralPeriod: [s.structuralPeriod, s.structuralPeriod],
      unevenness: unevennessOf([].concat.apply([], pattern)),
    };
  }

  function overlap2d(layers, shape) {
    shape = shape === undefined ? [8, 8] : typeof shape === "number" ? [shape, shape] : shape;
    var r = steady2d(layers);
    r.full = outer(full1d(layers, shape[0]), full1d(layers, shape[1]));
    return r;
  }

  /* The layers of one upsampling stage, as the explorer defines each method. */
  function methodLayers(method, kernel, factor) {
    var k = posInt(kernel, "kernel", 1);
    var s = posInt(factor, "factor", 1);
    var pad = Math.floor((k - 1) / 2);
    switch (method) {
      case "deconv":
        return [{ type: "deconv", kernel: k, stride: s }];
      case "nearest":
        return [
          { type: "resize", scale: s, mode: "nearest" },
          { type: "conv", kernel: k, padding: pad },
        ];
      case "bilinear":
        return [
          { type: "resize", scale: s, mode: "bilinear" },
          { type: "conv", kernel: k, padding: pad },
        ];
      case "subpixel":
        return [
          { type: "conv", kernel: k, padding: pad },
          { type: "pixelshuffle", scale: s },
        ];
      default:
        return fail("unknown method " + method);
    }
  }

  /* ---- linear-operator view: the matrix of one upsampling method ---------------------- */

  var TAPS = "abcdefgh";

  /* Matrix of a method for an input of nIn cells (output 2*nIn). Each entry maps a weight
   * name to its coefficient; `sum` is the entry's value with every weight set to one. */
  function operatorMatrix(method, nIn) {
    var n = posInt(nIn === undefined ? 4 : nIn, "input length", 2);
    var taps;
    var column; // (inputIndex, tapIndex) -> output column vector
    var unit = function (len, at) {
      var v = zeros(len);
      v[at] = 1;
      return v;
    };
    var run = function (Ls, x, w) {
      for (var k = 0; k < Ls.length; k++) {
        x = apply1d(Ls[k], x, Ls[k].type === "conv" || Ls[k].type === "deconv" ? w : undefined);
      }
      return x;
    };
    if (method === "deconv3" || method === "deconv4") {
      var k = method === "deconv3" ? 3 : 4;
      var L = normalize({ type: "deconv", kernel: k, stride: 2, padding: 1, output_padding: k === 3 ? 1 : 0 });
      taps = TAPS.slice(0, k).split("");
      column = function (i, t) {
        return run([L], unit(n, i), unit(k, t));
      };
    } else if (method === "nearest" || method === "bilinear") {
      var Ls = [normalize({ type: "resize", scale: 2, mode: method }), normalize({ type: "conv", kernel: 3, padding: 1 })];
      taps = ["a", "b", "c"];
      column = function (i, t) {
        return run(Ls, unit(n, i), unit(3, t));
      };
    } else if (method === "subpixel") {
      // conv k3 with two output channels (one per phase), then pixel shuffle x2
      var C = normalize({ type: "conv", kernel: 3, padding: 1 });
      taps = ["a\u2080", "b\u2080", "c\u2080", "a\u2081", "b\u2081", "c\u2081"];
      column = function (i, t) {
        var phase = Math.floor(t / 3);
        var y = apply1d(C, unit(n, i), unit(3, t % 3));
        var out = zeros(2 * n);
        for (var j = 0; j < n; j++) out[2 * j + phase] = y[j];
        return out;
      };
    } else {
      return fail("unknown operator " + method);
    }
    var rows = column(0, 0).length;
    var M = [];
    for (var r = 0; r < rows; r++) {
      M.push([]);
      for (var c = 0; c < n; c++) M[r].push({ terms: {}, sum: 0 });
    }
    for (var i = 0; i < n; i++) {
      for (var t = 0; t < taps.length; t++) {
        var col = column(i, t);
        for (r = 0; r < rows; r++) {
          if (col[r] !== 0) {
            M[r][i].terms[taps[t]] = (M[r][i].terms[taps[t]] || 0) + col[r];
            M[r][i].sum += col[r];
          }
        }
      }
    }
    var rowSums = M.map(function (row) {
      return row.reduce(function (a, e) {
        return a + e.sum;
      }, 0);
    });
    return { rows: rows, cols: n, taps: taps, entries: M, rowSums: rowSums };
  }

  var api = root.checkerscope || {};
  api.normalize = normalize;
  api.describe = describe;
  api.apply1d = apply1d;
  api.full1d = full1d;
  api.steady1d = steady1d;
  api.overlap1d = overlap1d;
  api.overlap2d = overlap2d;
  api.steady2d = steady2d;
  api.unevenness = unevennessOf;
  api.structuralPeriod = function (layers) {
    return structuralPeriod(normalizeAll(layers));
  };
  api.methodLayers = methodLayers;
  api.operatorMatrix = operatorMatrix;
  root.checkerscope = api;
})(typeof window !== "undefined" ? window : globalThis);
