// Charts: every <canvas data-chart="ID"> is drawn by Chart.js from the JSON config in
// the <script type="application/json" id="ID"> beside it (written by the `chart`
// template tag). Configs are plain data built on the server, so no inline script is
// needed and the CSP stays strict. Charts swapped in by htmx (polling pages) are drawn
// when they arrive; the canvas they replace has its chart destroyed first.
(function () {
  "use strict";

  function draw(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (Chart.getChart(canvas)) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      var config = JSON.parse(source.textContent);
      config.options = config.options || {};
      config.options.responsive = true;
      config.options.maintainAspectRatio = false;
      // Polled partials redraw every second: no entry animation each time.
      if (canvas.hasAttribute("data-chart-static")) config.options.animation = false;
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
