/* mlmon's HTML report: draws the charts from the JSON in #mlmon-data with uPlot. No network, no eval:
   the data is parsed with JSON.parse, and every text from the logs reaches the page as textContent
   (uPlot's legend) or as canvas text, never as markup. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("mlmon-data").textContent);
  var COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#999933",
                "#882255", "#44aa99"];
  var DASHES = [null, [6, 3], [2, 3], [8, 3, 2, 3]];

  function number(v, unit) {
    if (v == null || isNaN(v)) return "–";
    if (unit === "ratio") return v.toFixed(2);
    if (v !== 0 && Math.abs(v) < 0.01) return v.toPrecision(2);
    return v.toLocaleString("en-US", {maximumFractionDigits: Math.abs(v) < 10 ? 3 : 1});
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clock(d) { return two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()); }
  function day(d) { return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()); }
  /* Ticks in UTC: the day at midnight ("Nov 26"), else the time ("14:00"). */
  function ticks(u, values) {
    return values.map(function (t) {
      var d = new Date(t * 1e3);
      return d.getUTCHours() || d.getUTCMinutes() ? clock(d) : MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
    });
  }

  function markEvents(u) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    ctx.save();
    ctx.font = Math.round(11 * devicePixelRatio) + "px sans-serif";
    ctx.fillStyle = "#444";
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.strokeStyle = "#888";
    ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
    data.events.forEach(function (e, i) {
      var x = Math.round(u.valToPos(e.t, "x", true));
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      var text = e.text, width = ctx.measureText(text).width;
      var left = x + 4 * devicePixelRatio + width > u.bbox.left + u.bbox.width ? x - 4 * devicePixelRatio - width
                 : x + 4 * devicePixelRatio;
      ctx.fillText(text, left, top + (12 + 13 * (i % 3)) * devicePixelRatio);
    });
    ctx.restore();
  }

  function draw(figure, chart) {
    var box = figure.querySelector(".plot");
    var series = [{label: "UTC", value: function (u, t) { if (t == null) return "–"; var d = new Date(t * 1e3); return day(d) + " " + clock(d); }}];
    var columns = [data.x];
    chart.series.forEach(function (values, i) {
      series.push({
        label: data.segments[i],
        stroke: COLORS[i % COLORS.length],
        width: 2,
        dash: DASHES[Math.floor(i / COLORS.length) % DASHES.length] || undefined,
        points: {show: data.x.length <= 60},
        value: function (u, v) { return number(v, chart.unit); }
      });
      columns.push(values.map(function (v) { return v == null ? null : v * chart.scale; }));
    });
    var options = {
      width: Math.max(280, box.clientWidth),
      height: 220,
      series: series,
      scales: {x: {time: true}},
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },  /* ticks on UTC hours */
      axes: [{values: ticks}, {size: 60, values: function (u, ticks) { return ticks.map(function (v) { return number(v, chart.unit === "ratio" ? "%" : chart.unit); }); }}],
      legend: {live: true},
      cursor: {sync: {key: "mlmon"}},
      hooks: {draw: [markEvents]}
    };
    var plot = new uPlot(options, columns, box);
    return function () { plot.setSize({width: Math.max(280, box.clientWidth), height: 220}); };
  }

  var resizers = [];
  document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
    resizers.push(draw(figure, data.charts[Number(figure.getAttribute("data-chart"))]));
  });
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { resizers.forEach(function (r) { r(); }); }, 100);
  });
})();
