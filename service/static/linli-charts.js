/* The dashboard's charts (Chart.js, served by the service). Reads the numbers the page embeds
   in #chart-data; loads Chart.js first when the page arrived through htmx. */
(function () {
  var CHART = "/static/vendor/chart.js-4.6.1/chart.umd.min.js";
  var COLORS = ["#0b5cad", "#c2410c", "#15803d", "#7c3aed", "#b45309", "#0e7490", "#be123c", "#4d7c0f",
    "#6b7280", "#a21caf", "#1e3a8a", "#854d0e"];

  function make(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    var old = window.Chart.getChart(canvas);
    if (old) old.destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    new window.Chart(canvas, config);
  }

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#1a1a1a";
    var t = data.over_time;
    make("chart-over-time", {
      type: "line",
      data: { labels: t.labels, datasets: [
        { label: "新发布", data: t.posted, borderColor: COLORS[0], backgroundColor: COLORS[0] },
        { label: "已完成", data: t.completed, borderColor: COLORS[2], backgroundColor: COLORS[2] },
        { label: "服务时长(小时)", data: t.hours, borderColor: COLORS[1], backgroundColor: COLORS[1], yAxisID: "y2" }
      ] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, y2: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } }
    });
    var names = Object.keys(t.by_category);
    make("chart-category", {
      type: "bar",
      data: { labels: t.labels, datasets: names.map(function (name, i) {
        return { label: name, data: t.by_category[name], backgroundColor: COLORS[i % COLORS.length] };
      }) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    });
    make("chart-state", {
      type: "doughnut",
      data: { labels: data.by_state.labels, datasets: [{ data: data.by_state.values, backgroundColor: COLORS }] }
    });
    make("chart-times", {
      type: "bar",
      data: { labels: data.times.labels, datasets: [{ label: "小时（中位数）", data: data.times.values, backgroundColor: COLORS[0] }] },
      options: { scales: { y: { beginAtZero: true } } }
    });
    var r = data.rates;
    make("chart-rates", {
      type: "bar",
      data: { labels: r.labels, datasets: [
        { label: "响应率%", data: r.response, backgroundColor: COLORS[0] },
        { label: "办结率%", data: r.resolution, backgroundColor: COLORS[2] },
        { label: "满意率%", data: r.satisfaction, backgroundColor: COLORS[1] }
      ] },
      options: { scales: { y: { beginAtZero: true, max: 100 } } }
    });
    document.body.setAttribute("data-charts", "drawn");
  }

  if (window.Chart) { draw(); return; }
  var script = document.createElement("script");
  script.src = CHART;
  script.onload = draw;
  document.head.appendChild(script);
})();
