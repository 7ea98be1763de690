// Charts: every <canvas data-chart="ID"> is drawn by Chart.js from the JSON config in
// the <script type="application/json" id="ID"> beside it (written by the `chart`
// template tag). Configs are plain data built on the server, so no inline script is
// needed and the CSP stays strict. Charts swapped in by htmx (polling pages) are drawn
// when they arrive; the canvas they replace has its chart destroyed first.
//
// Colours come from the stylesheet: a config's "var(--name)" strings and Chart.js's text
// and grid colours are read from palate.css's custom properties when a chart is drawn,
// and every chart is drawn again when the colour scheme (light or dark) changes.
// Two small plugins draw what the configs describe: `errorBars` (a dataset's intervals
// as whiskers on its values, see apps/core/charts.py) and `cellValues` (each heat-map
// cell's number, in whichever of the theme's text and surface colours reads on it).
(function () {
  "use strict";

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // "var(--chart-accent)" → its value in the current scheme, anywhere in the config.
  function resolveColours(value) {
    if (typeof value === "string") {
      return value.replace(/var\((--[\w-]+)\)/g, function (whole, name) {
        return cssVar(name) || whole;
      });
    }
    if (Array.isArray(value)) return value.map(resolveColours);
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (key) {
        out[key] = resolveColours(value[key]);
      });
      return out;
    }
    return value;
  }

  function applyTheme() {
    Chart.defaults.color = cssVar("--muted"); // ticks, legends, titles
    Chart.defaults.borderColor = cssVar("--border"); // grid lines and axes
  }

  // ---- colours as numbers, for contrast ----
  var scratch = document.createElement("canvas").getContext("2d");

  function rgba(colour) {
    scratch.fillStyle = "#000";
    scratch.fillStyle = colour; // the browser normalises it to #rrggbb or rgba(…)
    var text = scratch.fillStyle;
    if (text.charAt(0) === "#") {
      return [1, 3, 5].map(function (i) { return parseInt(text.substr(i, 2), 16); }).concat(1);
    }
    var parts = text.match(/[\d.]+/g).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  }

  function luminance(rgb) {
    var channel = rgb.slice(0, 3).map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * channel[0] + 0.7152 * channel[1] + 0.0722 * channel[2];
  }

  function contrast(first, second) {
    var a = luminance(first), b = luminance(second);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }

  // A translucent fill as it shows over the page behind the canvas.
  function over(fill, backdrop) {
    var alpha = fill[3];
    return [0, 1, 2].map(function (i) {
      return alpha * fill[i] + (1 - alpha) * backdrop[i];
    });
  }

  function backdropOf(element) {
    for (var node = element; node && node.nodeType === 1; node = node.parentElement) {
      var colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return rgba(cssVar("--bg") || "#fff");
  }

  // ---- error bars ----
  function formatValue(value) {
    return typeof value === "number" ? value.toFixed(2) : "–";
  }

  // One dataset's intervals as whiskers: under its points (the dot stays visible), over
  // its bars (a bar would hide the lower half).
  function drawIntervals(chart, meta) {
    var dataset = chart.data.datasets[meta.index];
    var bounds = (dataset.errorBars || {}).bounds;
    if (!bounds || meta.hidden || !chart.isDatasetVisible(meta.index)) return;
    var ctx = chart.ctx, area = chart.chartArea, scale = meta.vScale;
    var along = scale.isHorizontal();
    ctx.save();
    ctx.beginPath();
    ctx.rect(area.left - 2, area.top - 2, area.right - area.left + 4, area.bottom - area.top + 4);
    ctx.clip();
    ctx.strokeStyle = cssVar("--chart-whisker") || Chart.defaults.color;
    ctx.lineWidth = 1.5;
    meta.data.forEach(function (element, i) {
      if (!bounds[i] || dataset.data[i] === null || dataset.data[i] === undefined) return;
      var low = scale.getPixelForValue(bounds[i][0]), high = scale.getPixelForValue(bounds[i][1]);
      var size = along ? element.height : element.width;
      var cap = size ? Math.min(Math.max(size / 4, 3), 10) : 6;
      var at = along ? element.y : element.x;
      ctx.beginPath();
      if (along) {
        ctx.moveTo(low, at); ctx.lineTo(high, at);
        ctx.moveTo(low, at - cap); ctx.lineTo(low, at + cap);
        ctx.moveTo(high, at - cap); ctx.lineTo(high, at + cap);
      } else {
        ctx.moveTo(at, low); ctx.lineTo(at, high);
        ctx.moveTo(at - cap, low); ctx.lineTo(at + cap, low);
        ctx.moveTo(at - cap, high); ctx.lineTo(at + cap, high);
      }
      ctx.stroke();
    });
    ctx.restore();
  }

  var errorBars = {
    id: "errorBars",
    // Whiskers that reach past the values widen the value axis (unless it is fixed).
    afterDataLimits: function (chart, args) {
      var scale = args.scale;
      chart.data.datasets.forEach(function (dataset, index) {
        var meta = chart.getDatasetMeta(index);
        if (!dataset.errorBars || meta.vScale !== scale || !chart.isDatasetVisible(index)) return;
        dataset.errorBars.bounds.forEach(function (bounds) {
          if (!bounds) return;
          if (scale.options.min === undefined) scale.min = Math.min(scale.min, bounds[0]);
          if (scale.options.max === undefined) scale.max = Math.max(scale.max, bounds[1]);
        });
      });
    },
    beforeDatasetDraw: function (chart, args) {
      if (args.meta.type !== "bar") drawIntervals(chart, args.meta);
    },
    afterDatasetDraw: function (chart, args) {
      if (args.meta.type === "bar") drawIntervals(chart, args.meta);
    },
  };

  // "Value: 0.72 (95% CI 0.65–0.79), n=140" for a value with an interval.
  function intervalLabel(fallback) {
    return function (item) {
      var bars = item.dataset.errorBars;
      if (!bars) return fallback.call(this, item);
      var axis = item.chart.getDatasetMeta(item.datasetIndex).vScale.axis;
      var bounds = bars.bounds[item.dataIndex];
      var count = (bars.counts || [])[item.dataIndex];
      var text = (item.dataset.label ? item.dataset.label + ": " : "") +
        formatValue(item.parsed[axis]);
      text += bounds
        ? " (" + bars.level + " " + formatValue(bounds[0]) + "–" + formatValue(bounds[1]) + ")"
        : " (no interval)";
      if (count !== null && count !== undefined) text += ", n=" + count;
      return text;
    };
  }

  // ---- heat-map cell values ----
  var cellValues = {
    id: "cellValues",
    defaults: { display: false, decimals: 2 },
    afterDatasetsDraw: function (chart, args, options) {
      if (!options.display) return;
      var ctx = chart.ctx;
      var backdrop = backdropOf(chart.canvas);
      var inks = [cssVar("--text"), cssVar("--surface")].map(function (c) {
        return { css: c, rgb: rgba(c) };
      });
      ctx.save();
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      chart.data.datasets.forEach(function (dataset, index) {
        chart.getDatasetMeta(index).data.forEach(function (cell, i) {
          var box = cell.getProps(["x", "y", "width", "height"], true);
          var value = (dataset.data[i] || {}).v;
          var text = typeof value === "number" ? value.toFixed(options.decimals) : "–";
          var size = Math.min(13, Math.floor(box.height / 2.2));
          if (size < 8) return;
          ctx.font = "600 " + size + "px " + Chart.defaults.font.family;
          if (ctx.measureText(text).width > box.width - 4) return;
          var fill = over(rgba(cell.options.backgroundColor), backdrop);
          var ink = contrast(inks[0].rgb, fill) >= contrast(inks[1].rgb, fill) ? inks[0] : inks[1];
          ctx.fillStyle = ink.css;
          ctx.fillText(text, box.x + box.width / 2, box.y + box.height / 2);
        });
      });
      ctx.restore();
    },
  };

  function draw(scope, options) {
    if (typeof Chart === "undefined") return;
    applyTheme();
    scope.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (Chart.getChart(canvas)) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      var config = resolveColours(JSON.parse(source.textContent));
      config.options = config.options || {};
      config.options.responsive = true;
      config.options.maintainAspectRatio = false;
      // Polled partials redraw every second: no entry animation each time.
      if (canvas.hasAttribute("data-chart-static") || (options && options.still)) {
        config.options.animation = false;
      }
      if (config.type === "matrix") fitCells(config);
      new Chart(canvas, config);
      canvas.dataset.chartDrawn = "true";
    });
  }

  // Heat-map cells without a size fill the chart area: the JSON config cannot carry
  // the functions chartjs-chart-matrix needs for that.
  function fitCells(config) {
    (config.data.datasets || []).forEach(function (dataset) {
      if (dataset.width === undefined) {
        dataset.width = function (context) {
          var area = context.chart.chartArea;
          var count = context.chart.scales.x.ticks.length || 1;
          return area ? Math.max(area.width / count - 2, 1) : 0;
        };
      }
      if (dataset.height === undefined) {
        dataset.height = function (context) {
          var area = context.chart.chartArea;
          var count = context.chart.scales.y.ticks.length || 1;
          return area ? Math.max(area.height / count - 2, 1) : 0;
        };
      }
    });
  }

  // A change of colour scheme: every chart drawn again in the new colours.
  function redrawAll() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var chart = Chart.getChart(canvas);
      if (chart) chart.destroy();
    });
    draw(document, { still: true });
  }

  if (typeof Chart !== "undefined") {
    Chart.register(errorBars, cellValues);
    var callbacks = Chart.defaults.plugins.tooltip.callbacks;
    callbacks.label = intervalLabel(callbacks.label);
  }
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawAll);

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
  });
  document.addEventListener("htmx:load", function (event) {
    draw(event.detail.elt.parentNode || document);
  });
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var elt = event.detail.elt;
    if (elt.querySelectorAll === undefined) return;
    var canvases = elt.matches && elt.matches("canvas[data-chart]") ? [elt] : [];
    elt.querySelectorAll("canvas[data-chart]").forEach(function (c) {
      canvases.push(c);
    });
    canvases.forEach(function (canvas) {
      var chart = typeof Chart !== "undefined" && Chart.getChart(canvas);
      if (chart) chart.destroy();
    });
  });
})();
