// Dashboard (admin or auditor token): indicators as Apache ECharts charts (vendored, no
// CDN), each with a table view and CSV/XLSX downloads; the volunteer-hours leaderboard
// from which an admin names the year's 文明实践之星. Plain script.
"use strict";

(function () {
  var MONTHS = 6;
  var me = null;
  var charts = {};
  var levels = { participation: "station", trend: "setting", budget: "realm", satisfaction: "realm" };
  var reports = {};
  var awardee = null;

  function $(id) { return document.getElementById(id); }

  function monthsBack(count) {
    var now = new Date();
    var first = new Date(now.getFullYear(), now.getMonth() - count + 1, 1);
    return first.getFullYear() + "-" + ("0" + (first.getMonth() + 1)).slice(-2);
  }

  function indicatorPath(level, format) {
    return "/v1/reports/indicators?realm=" + encodeURIComponent(me.realm) + "&level=" + level +
      "&from=" + monthsBack(MONTHS) + (format ? "&format=" + format : "");
  }

  function table(headings, rows) {
    var shown = PB.element("table");
    var head = shown.appendChild(PB.element("thead")).appendChild(PB.element("tr"));
    headings.forEach(function (text) {
      var cell = head.appendChild(PB.element("th", null, text));
      cell.scope = "col";
    });
    var body = shown.appendChild(PB.element("tbody"));
    rows.forEach(function (values) {
      var row = body.appendChild(PB.element("tr"));
      values.forEach(function (value) { row.appendChild(PB.element("td", null, value === null ? "–" : String(value))); });
    });
    return shown;
  }

  function draw(name, option, headings, rows) {
    if (!charts[name]) charts[name] = echarts.init($(name + "-chart"), null, { renderer: "canvas" });
    option.aria = { enabled: true };
    option.tooltip = option.tooltip || { trigger: "axis" };
    option.grid = { left: 48, right: 16, top: 36, bottom: 56, containLabel: true };
    charts[name].setOption(option, true);
    $(name + "-table").textContent = "";
    $(name + "-table").appendChild(table(headings, rows));
  }

  function percent(rate) { return rate === null ? null : Math.round(rate * 1000) / 10; }

  function participation(report) {
    var last = report.rows.length ? report.rows[report.rows.length - 1].month : null;
    var rows = report.rows.filter(function (row) { return row.month === last; });
    draw("participation", {
      legend: { top: 0 },
      xAxis: { type: "category", data: rows.map(function (row) { return row.place_name; }), axisLabel: { rotate: 30 } },
      yAxis: { type: "value", name: "%", max: 100 },
      series: [{ type: "bar", name: PB.t("dashboard.rate"), data: rows.map(function (row) { return percent(row.participation_rate); }) }]
    }, [PB.t("dashboard.place"), PB.t("dashboard.month"), PB.t("dashboard.registered"), PB.t("dashboard.active"),
        PB.t("dashboard.rate")],
    rows.map(function (row) { return [row.place_name, row.month, row.registered, row.active, percent(row.participation_rate)]; }));
  }

  function trend(report) {
    var months = [];
    report.rows.forEach(function (row) { if (months.indexOf(row.month) < 0) months.push(row.month); });
    function series(place) {
      return report.rows.filter(function (row) { return row.place === place; })
        .map(function (row) { return percent(row.participation_rate); });
    }
    draw("trend", {
      legend: { top: 0 },
      xAxis: { type: "category", data: months }, yAxis: { type: "value", name: "%", max: 100 },
      series: [{ type: "line", name: PB.t("dashboard.urban"), data: series("urban") },
               { type: "line", name: PB.t("dashboard.rural"), data: series("rural") }]
    }, [PB.t("dashboard.place"), PB.t("dashboard.month"), PB.t("dashboard.registered"), PB.t("dashboard.active"),
        PB.t("dashboard.rate")],
    report.rows.map(function (row) {
      var place = row.place === "urban" ? PB.t("dashboard.urban") : PB.t("dashboard.rural");
      return [place, row.month, row.registered, row.active, percent(row.participation_rate)];
    }));
  }

  function budget(report) {
    var months = report.budgets.length ? report.budgets[0].trend.map(function (m) { return m.month; }) : [];
    draw("budget", {
      legend: { top: 0 },
      xAxis: { type: "category", data: months }, yAxis: { type: "value" },
      series: report.budgets.map(function (b) {
        return { type: "line", name: PB.t("asset." + b.asset), data: b.trend.map(function (m) { return m.remaining; }) };
      })
    }, [PB.t("audit.asset"), PB.t("dashboard.month"), PB.t("dashboard.remaining"), PB.t("dashboard.burned")],
    [].concat.apply([], report.budgets.map(function (b) {
      return b.trend.map(function (m) { return [PB.t("asset." + b.asset), m.month, m.remaining, m.burned]; });
    })));
    $("budget-note").textContent = report.budgets.map(function (b) {
      return PB.t("asset." + b.asset) + "：" + (b.months_left === null ? PB.t("dashboard.no_burn")
        : PB.format("dashboard.months_left", { months: b.months_left }));
    }).join("；");
  }

  function satisfaction(report) {
    draw("satisfaction", {
      legend: { top: 0 },
      xAxis: { type: "category", data: report.rows.map(function (row) { return row.month; }) },
      yAxis: { type: "value", min: 0, max: 5 },
      series: [{ type: "bar", name: PB.t("dashboard.rating_activities"), data: report.rows.map(function (r) { return r.rating_activities; }) },
               { type: "bar", name: PB.t("dashboard.rating_requests"), data: report.rows.map(function (r) { return r.rating_requests; }) }]
    }, [PB.t("dashboard.month"), PB.t("dashboard.rating_activities"), PB.t("dashboard.rating_requests")],
    report.rows.map(function (row) { return [row.month, row.rating_activities, row.rating_requests]; }));
  }

  var drawers = { participation: participation, trend: trend, budget: budget, satisfaction: satisfaction };

  function loadCharts() {
    var wanted = {};
    Object.keys(levels).forEach(function (name) { wanted[levels[name]] = true; });
    return Promise.all(Object.keys(wanted).map(function (level) {
      return PB.api(indicatorPath(level)).then(function (report) { reports[level] = report; });
    })).then(function () {
      Object.keys(drawers).forEach(function (name) { drawers[name](reports[levels[name]]); });
    }, PB.failed);
  }

  function leaders() {
    var year = String(new Date().getFullYear());
    return PB.api("/v1/leaderboards?realm=" + encodeURIComponent(me.realm) + "&order=hours&period=" + year +
                  "&limit=10").then(function (board) {
      var body = $("leaders").querySelector("tbody");
      body.textContent = "";
      board.items.forEach(function (item) {
        var row = body.appendChild(PB.element("tr"));
        row.appendChild(PB.element("td", null, String(item.rank)));
        row.appendChild(PB.element("td", null, item.display_name || item.code));
        row.appendChild(PB.element("td", null, String(Math.round(item.minutes / 6) / 10)));
        var cell = row.appendChild(PB.element("td"));
        if (me.role === "admin") {
          var button = cell.appendChild(PB.element("button", "small", PB.t("dashboard.award")));
          button.type = "button";
          button.addEventListener("click", function () {
            awardee = item;
            $("award-who").textContent = (item.display_name || item.code) + " · " + year;
            $("award-form").hidden = false;
            $("award-citation").focus();
          });
        }
      });
    }, PB.failed);
  }

  function award(event) {
    event.preventDefault();
    var year = new Date().getFullYear();
    PB.pending($("award-submit"), function () {
      return PB.api("/v1/recognitions", { method: "POST", idempotencyKey: PB.newIdempotencyKey(), body: {
        realm: me.realm, resident_id: awardee.resident_id, year: year, citation: $("award-citation").value } })
        .then(function () {
          $("award-form").hidden = true;
          $("award-citation").value = "";
          PB.say(PB.format("dashboard.awarded", { year: year }), "info");
        }, PB.failed);
    });
  }

  function setUp() {
    Object.keys(drawers).forEach(function (name) {
      $(name + "-toggle").addEventListener("click", function () {
        var showing = $(name + "-table").hidden;
        $(name + "-table").hidden = !showing;
        $(name + "-toggle").setAttribute("aria-expanded", String(showing));
        $(name + "-toggle").textContent = PB.t(showing ? "dashboard.chart" : "dashboard.table");
      });
      ["csv", "xlsx"].forEach(function (format) {
        $(name + "-" + format).addEventListener("click", function () {
          PB.download(indicatorPath(levels[name], format), "indicators-" + levels[name] + "." + format, $(name + "-" + format));
        });
      });
    });
    $("award-form").addEventListener("submit", award);
    $("award-cancel").addEventListener("click", function () { $("award-form").hidden = true; });
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (name) { charts[name].resize(); });
    });
  }

  setUp();
  PB.onSignIn(function (identity) {
    me = identity;
    loadCharts();
    leaders();
  });
})();
