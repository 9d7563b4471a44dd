// The KPI dashboard's charts (chart.js UMD, global Chart). The numbers come from
// <script type="application/json" id="kpi-data">: {by, totals: [rows by group],
// periods: [rows by period and group]}; each row as services.kpis.compute answers.
(function () {
  "use strict";
  if (!window.Chart) return;
  var data = window.rf.pageData("kpi-data");
  if (!data) return;
  var palette = ["#0b5cad", "#1d7a3a", "#9a5b00", "#b3261e", "#6a3d9a", "#00838f", "#5b6675", "#c2185b", "#827717", "#37474f"];
  var by = data.by;
  var label = function (row, key) { var v = row.group[key]; return v === null || v === undefined ? "(none)" : String(v); };
  var groups = data.totals.map(function (row) { return label(row, by); });
  var rendered = [];

  function color(i) { return palette[i % palette.length]; }
  function pct(v) { return v === null ? null : Math.round(v * 1000) / 10; }

  function bar(id, title, values, unit, extra) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    var chart = new window.Chart(canvas, Object.assign({
      type: "bar",
      data: { labels: groups, datasets: [{ label: title, data: values, backgroundColor: groups.map(function (_g, i) { return color(i); }) }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false }, title: { display: true, text: title } },
        scales: { y: { beginAtZero: true, title: { display: !!unit, text: unit } } }
      }
    }, extra || {}));
    rendered.push(chart);
  }

  // volume per period, one stacked series per group
  var periods = (data.buckets || []).slice();
  data.periods.forEach(function (row) { if (periods.indexOf(row.group.period) < 0) periods.push(row.group.period); });
  periods.sort();
  var volumeCanvas = document.getElementById("chart-volume");
  if (volumeCanvas) {
    var series = groups.map(function (g, i) {
      return {
        label: g,
        backgroundColor: color(i),
        data: periods.map(function (p) {
          var row = data.periods.find(function (r) { return r.group.period === p && label(r, by) === g; });
          return row ? row.volume : 0;
        })
      };
    });
    rendered.push(new window.Chart(volumeCanvas, {
      type: "bar",
      data: { labels: periods, datasets: series },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { title: { display: true, text: "Cases opened per " + data.granularity } },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } }
      }
    }));
  }

  bar("chart-retention", "Retention rate (%)", data.totals.map(function (r) { return pct(r.retention_rate); }), "%",
    { options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false }, title: { display: true, text: "Retention rate (%)" } }, scales: { y: { beginAtZero: true, max: 100 } } } });
  bar("chart-handling", "Average handling time (s)", data.totals.map(function (r) { return r.avg_handling_seconds; }), "seconds");
  bar("chart-service-level", "Service level (%)", data.totals.map(function (r) { return pct(r.service_level); }), "%",
    { options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false }, title: { display: true, text: "Service level (%)" } }, scales: { y: { beginAtZero: true, max: 100 } } } });

  var backlogCanvas = document.getElementById("chart-backlog");
  if (backlogCanvas) {
    rendered.push(new window.Chart(backlogCanvas, {
      type: "bar",
      data: {
        labels: groups,
        datasets: [
          { label: "on time", backgroundColor: "#1d7a3a", data: data.totals.map(function (r) { return r.backlog - r.backlog_overdue; }) },
          { label: "overdue", backgroundColor: "#b3261e", data: data.totals.map(function (r) { return r.backlog_overdue; }) }
        ]
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { title: { display: true, text: "Backlog at the end of the period" } },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } }
      }
    }));
  }
  window.rfCharts = rendered; // for the browser tests
  var root = document.getElementById("kpi-charts");
  if (root) root.setAttribute("data-ready", String(rendered.length));
})();
