// Charts: every <canvas data-chart="ID"> is drawn by Chart.js from the JSON config in
// the <script type="application/json" id="ID"> beside it (written by the `chart`
// template tag). Configs are plain data built on the server, so no inline script is
// needed and the CSP stays strict. Charts swapped in by htmx (polling pages) are drawn
// when they arrive; the canvas they replace has its chart destroyed first.
(function () {
  "use strict";

  // Heat maps (chartjs-chart-matrix) need cell sizes as functions of the chart area,
  // which JSON cannot carry: cells fill the area unless the config sizes them.
  function sizeMatrixCells(config) {
    if (config.type !== "matrix") return;
    var scales = (config.options && config.options.scales) || {};
    var columns = ((scales.x || {}).labels || []).length || 1;
    var rows = ((scales.y || {}).labels || []).length || 1;
    (config.data.datasets || []).forEach(function (dataset) {
      if (dataset.width === undefined) {
        dataset.width = function (context) {
          var area = context.chart.chartArea;
          return area ? Math.max(area.width / columns - 2, 1) : 0;
        };
      }
      if (dataset.height === undefined) {
        dataset.height = function (context) {
          var area = context.chart.chartArea;
          return area ? Math.max(area.height / rows - 2, 1) : 0;
        };
      }
    });
  }

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
      sizeMatrixCells(config);
      new Chart(canvas, config);
      canvas.dataset.chartDrawn = "true";
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
