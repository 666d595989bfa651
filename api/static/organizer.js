// The organizer's desk: today's and upcoming activities; create and publish; the check-in
// code full screen with who is in; close and award; register a resident and print the
// sign-in card; upload an attendance CSV with progress.
"use strict";

(function () {
  var DESK_QR_REFRESH_MS = 25000;      // the code rotates every 30 s
  var DESK_LIST_REFRESH_MS = 5000;
  var CSV_CHUNK_ROWS = 200;            // records per attendance request (the API takes up to 1,000)
  var PERSONAL_PREFIX = "PBP1.";
  var CSV_COLUMNS = {
    activity_id: ["activity_id", "activity", "活动编号", "活动id", "活动"],
    resident_id: ["resident_id", "resident", "居民编号", "居民id", "居民"],
    minutes: ["minutes", "时长", "分钟", "时长(分钟)", "时长（分钟）", "时长/分钟"]
  };
  var who = null;         // the caller (whoami)
  var zone = "Asia/Shanghai";
  var desk = null;        // {activity, timers, qrUrl, stopScan}
  var cardUrl = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) { return PB.element(tag, className, text); }

  function button(text, className, onClick) {
    var node = el("button", className, text);
    node.type = "button";
    node.addEventListener("click", function () { onClick(node); });
    return node;
  }

  // The realm's wall time (date and time fields) as an instant, in ISO 8601.
  function zonedIso(day, time) {
    var guess = Date.parse(day + "T" + time + ":00Z");
    var parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(new Date(guess));
    var value = {};
    parts.forEach(function (part) { value[part.type] = parseInt(part.value, 10); });
    var shown = Date.UTC(value.year, value.month - 1, value.day, value.hour, value.minute, value.second);
    return new Date(guess - (shown - guess)).toISOString();
  }

  function realmToday() {
    var parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit",
                                                   day: "2-digit" }).format(new Date());
    return parts.slice(0, 10);
  }

  // Activities ---------------------------------------------------------------------------

  function loadActivities() {
    var list = $("activities");
    return PB.api("/v1/activities?upcoming=true&realm=" + encodeURIComponent(who.realm)).then(function (page) {
      list.textContent = "";
      page.items.forEach(function (activity) { list.appendChild(activityItem(activity)); });
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("organizer.none")));
    }, PB.failed);
  }

  function activityItem(activity) {
    var item = el("li", "activity");
    item.setAttribute("data-activity", activity.id);
    item.appendChild(el("p", "title", activity.title));
    item.appendChild(el("p", "meta", PB.timeRange(activity.starts_at, activity.ends_at)));
    item.appendChild(el("p", "meta", [activity.place, activity.station_name, activity.type_name]
      .filter(Boolean).join(" · ")));
    var signed = PB.t("organizer.signed_up") + " " + activity.confirmed_count +
                 (activity.capacity !== null ? "/" + activity.capacity : "");
    item.appendChild(el("p", "state", PB.t("organizer.status." + activity.status) + " · " + signed + " · " +
                                      PB.t("activities.offer") + " " + activity.points_on_offer + " " +
                                      PB.t("common.points")));
    var actions = el("div", "actions");
    if (activity.status === "draft") {
      actions.appendChild(button(PB.t("organizer.publish"), "", function (node) { publish(activity, node); }));
    }
    if (activity.status === "published") {
      actions.appendChild(button(PB.t("organizer.open_desk"), "", function () { openDesk(activity); }));
      actions.appendChild(button(PB.t("organizer.close"), "danger", function (node) { close(activity, node); }));
    }
    if (activity.status === "closed") {
      actions.appendChild(button(PB.t("organizer.show_summary"), "small", function (node) { close(activity, node, true); }));
    }
    item.appendChild(actions);
    return item;
  }

  function publish(activity, node) {
    node.disabled = true;
    PB.api("/v1/activities/" + activity.id + "/status", { method: "POST", body: { status: "published" } })
      .then(function () { PB.say(PB.t("organizer.published"), "ok"); loadActivities(); },
            function (error) { node.disabled = false; PB.failed(error); });
  }

  function close(activity, node, already) {
    if (!already && !confirm(PB.t("organizer.close_confirm"))) return;
    node.disabled = true;
    PB.api("/v1/activities/" + activity.id + "/close", { method: "POST" }).then(function (summary) {
      showSummary(summary);
      loadActivities();
    }, function (error) { node.disabled = false; PB.failed(error); });
  }

  function errorText(code) {
    var key = "error." + code;
    return PB.t(key) === key ? code : PB.t(key);
  }

  function showSummary(summary) {
    $("summary-title").textContent = summary.title;
    $("summary-text").textContent = PB.t("organizer.awarded") + " " + summary.awarded + " " +
      PB.t("organizer.people") + " · " + summary.points + " " + PB.t("common.points");
    var list = $("summary-list");
    list.textContent = "";
    summary.results.forEach(function (result) {
      var text = (result.display_name || result.code || "#" + result.resident_id) + " " + (result.error ? errorText(result.error) :
                 "+" + result.points + " " + PB.t("common.points"));
      list.appendChild(el("li", "row", text));
    });
    summary.no_checkout.forEach(function (row) {
      list.appendChild(el("li", "row", (row.display_name || row.code) + " · " + PB.t("organizer.no_checkout")));
    });
    summary.too_short.forEach(function (row) {
      list.appendChild(el("li", "row", (row.display_name || row.code) + " · " + PB.t("organizer.too_short")));
    });
    PB.show("summary", true);
    $("summary").scrollIntoView();
  }

  // Creating an activity -----------------------------------------------------------------

  function loadChoices() {
    PB.api("/v1/activity-types?realm=" + encodeURIComponent(who.realm)).then(function (types) {
      types.items.forEach(function (type) {
        var option = el("option", "", type.name);
        option.value = type.code;
        $("create-type").appendChild(option);
      });
    }, PB.failed);
    if (who.station_id !== null) return;
    PB.show("create-station-label", true);
    PB.api("/v1/stations?realm=" + encodeURIComponent(who.realm)).then(function (page) {
      page.items.forEach(function (station) {
        var option = el("option", "", station.town_name + " · " + station.name);
        option.value = station.id;
        $("create-station").appendChild(option);
      });
    }, PB.failed);
  }

  function create(status) {
    var day = $("create-day").value, starts = $("create-starts").value, ends = $("create-ends").value;
    if (!$("create-title").value.trim() || !day || !starts || !ends) return PB.say(PB.t("organizer.fill_in"));
    var capacity = PB.wholeNumber($("create-capacity"));
    if (capacity !== null && !(capacity > 0)) return PB.say(PB.t("organizer.capacity_invalid"));
    var body = {
      realm: who.realm, activity_type: $("create-type").value, title: $("create-title").value.trim(),
      station_id: who.station_id !== null ? who.station_id : parseInt($("create-station").value, 10),
      starts_at: zonedIso(day, starts), ends_at: zonedIso(day, ends), status: status,
      place: $("create-place").value.trim() || null, capacity: capacity,
      description: $("create-description").value.trim() || null
    };
    $("create-publish").disabled = true;
    PB.api("/v1/activities", { method: "POST", body: body }).then(function () {
      $("create-form").reset();
      defaultTimes();
      PB.say(PB.t(status === "draft" ? "organizer.saved" : "organizer.published"), "ok");
      loadActivities();
    }, PB.failed).then(function () { $("create-publish").disabled = false; });
  }

  function defaultTimes() {
    $("create-day").value = realmToday();
    $("create-starts").value = "09:00";
    $("create-ends").value = "11:00";
  }

  // The desk: code full screen, who is in, check-in by a resident's code -----------------

  function deskSay(text, kind) {
    $("desk-message").textContent = text;
    $("desk-message").className = "message " + (kind || "error");
    PB.show("desk-message", !!text);
  }

  function refreshQr() {
    PB.api("/v1/activities/" + desk.activity.id + "/checkin-code.png", { blob: true }).then(function (picture) {
      if (desk.qrUrl) URL.revokeObjectURL(desk.qrUrl);
      desk.qrUrl = URL.createObjectURL(picture);
      $("desk-qr").src = desk.qrUrl;
    }, function (error) { deskSay(error.message); });
  }

  function refreshList() {
    PB.api("/v1/activities/" + desk.activity.id + "/checkins").then(function (page) {
      var list = $("desk-list");
      list.textContent = "";
      var inside = 0;
      page.items.forEach(function (row) {
        if (!row.checked_out_at) inside += 1;
        var line = el("li", "row");
        line.appendChild(el("strong", "", row.display_name || row.code));
        line.appendChild(el("span", "", row.checked_out_at ? PB.t("activities.checked_out") + " · " + row.minutes +
                                        " " + PB.t("activities.minutes") : PB.t("activities.checked_in")));
        line.appendChild(el("span", "time", PB.when(row.checked_in_at)));
        list.appendChild(line);
      });
      $("desk-count").textContent = PB.t("organizer.inside") + " " + inside + " · " + PB.t("organizer.total") +
                                     " " + page.items.length;
    }, function (error) { deskSay(error.message); });
  }

  function openDesk(activity) {
    desk = { activity: activity, timers: [], qrUrl: null, stopScan: null };
    $("desk-title").textContent = activity.title;
    deskSay("");
    PB.show("desk", true);
    refreshQr();
    refreshList();
    desk.timers.push(setInterval(refreshQr, DESK_QR_REFRESH_MS), setInterval(refreshList, DESK_LIST_REFRESH_MS));
    if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(function () {});
  }

  function closeDesk() {
    if (!desk) return;
    desk.timers.forEach(clearInterval);
    if (desk.stopScan) desk.stopScan();
    desk = null;
    PB.show("desk", false);
    PB.show("desk-video", false);
    if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(function () {});
    loadActivities();
  }

  function deskCheckin(residentCode) {
    PB.api("/v1/activities/" + desk.activity.id + "/checkins", { method: "POST",
                                                                 body: { resident_code: residentCode } })
      .then(function (checkin) {
        deskSay((checkin.display_name || checkin.code || "#" + checkin.resident_id) + " · " +
                PB.t(checkin.action === "in" ? "activities.checked_in" : "activities.checked_out"), "ok");
        $("desk-resident").value = "";
        refreshList();
      }, function (error) { deskSay(error.message); });
  }

  function deskScan() {
    PB.show("desk-video", true);
    desk.stopScan = PBScanner.start($("desk-video"), PERSONAL_PREFIX, function (code) {
      PB.show("desk-video", false);
      deskCheckin(code);
    }, function () { PB.show("desk-video", false); deskSay(PB.t("activities.no_camera")); });
  }

  // Registering a resident and the sign-in card -------------------------------------------

  function enrol(residentId) {
    return PB.api("/v1/enrolments", { method: "POST", body: { realm: who.realm, role: "resident",
                                                               resident_id: residentId } })
      .then(function (enrolment) {
        $("card-code").textContent = enrolment.code;
        $("card-who").textContent = [enrolment.name, enrolment.station_name].filter(Boolean).join(" · ") +
          " · " + PB.t("organizer.card_expires") + " " + PB.when(enrolment.expires_at);
        PB.show("card", true);
        return PB.api(enrolment.card_url, { blob: true });
      }).then(function (pdf) {
        if (cardUrl) URL.revokeObjectURL(cardUrl);
        cardUrl = URL.createObjectURL(pdf);
        $("card-pdf").href = cardUrl;
        $("card").scrollIntoView();
      });
  }

  function register(event) {
    event.preventDefault();
    if (who.station_id === null) return PB.say(PB.t("organizer.station_needed"));
    var body = { realm: who.realm, station_id: who.station_id, code: $("register-code").value.trim(),
                 display_name: $("register-name").value.trim() || null,
                 phone: $("register-phone").value.trim() || null };
    PB.api("/v1/residents", { method: "POST", body: body }).then(function (resident) {
      $("register-form").reset();
      PB.say(PB.t("organizer.registered") + " #" + resident.id, "ok");
      return enrol(resident.id);
    }).catch(PB.failed);
  }

  function reissue(event) {
    event.preventDefault();
    var id = PB.wholeNumber($("reissue-id"));
    if (!(id > 0)) return PB.say(PB.t("organizer.fill_in"));
    enrol(id).catch(PB.failed);
  }

  // The attendance CSV, sent in chunks with progress --------------------------------------

  function splitLine(line) {
    var cells = [], cell = "", quoted = false;
    for (var i = 0; i < line.length; i++) {
      var c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
      } else if (c === '"') quoted = true; else if (c === ",") { cells.push(cell); cell = ""; } else cell += c;
    }
    cells.push(cell);
    return cells.map(function (text) { return text.trim(); });
  }

  function parseCsv(text) {
    var lines = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter(function (line) { return line.trim(); });
    if (!lines.length) throw new Error(PB.t("organizer.csv_empty"));
    var header = splitLine(lines[0]).map(function (name) { return name.toLowerCase(); });
    var at = {};
    Object.keys(CSV_COLUMNS).forEach(function (column) {
      at[column] = header.findIndex(function (name) { return CSV_COLUMNS[column].indexOf(name) >= 0; });
      if (at[column] < 0) throw new Error(PB.t("organizer.csv_column") + " " + CSV_COLUMNS[column].join(" / "));
    });
    var byActivity = {}, bad = 0;
    lines.slice(1).forEach(function (line) {
      var cells = splitLine(line);
      var record = [cells[at.activity_id], cells[at.resident_id], cells[at.minutes]];
      if (!record.every(function (cell) { return /^[0-9]{1,18}$/.test(cell || ""); })) { bad += 1; return; }
      (byActivity[record[0]] = byActivity[record[0]] || []).push(
        { resident_id: parseInt(record[1], 10), minutes: parseInt(record[2], 10) });
    });
    return { byActivity: byActivity, bad: bad, rows: lines.length - 1 };
  }

  // A key that is the same for the same chunk of the same file: a re-upload awards nothing twice.
  function chunkKey(activityId, records) {
    var text = activityId + ":" + JSON.stringify(records), a = 0x811c9dc5, b = 0x01000193;
    for (var i = 0; i < text.length; i++) {
      a = Math.imul(a ^ text.charCodeAt(i), 16777619) >>> 0;
      b = Math.imul(b ^ text.charCodeAt(i), 2246822519) >>> 0;
    }
    return "csv-" + activityId + "-" + records.length + "-" + a.toString(16) + b.toString(16);
  }

  function upload(file) {
    var progress = $("csv-progress"), status = $("csv-status");
    file.text().then(function (text) {
      var parsed = parseCsv(text);
      var chunks = [];
      Object.keys(parsed.byActivity).forEach(function (activityId) {
        var records = parsed.byActivity[activityId];
        for (var i = 0; i < records.length; i += CSV_CHUNK_ROWS) {
          chunks.push([activityId, records.slice(i, i + CSV_CHUNK_ROWS)]);
        }
      });
      var totals = { done: parsed.bad, awarded: 0, refused: parsed.bad, points: 0 };
      progress.max = Math.max(parsed.rows, 1);
      progress.value = totals.done;
      PB.show("csv-progress", true);
      var next = Promise.resolve();
      chunks.forEach(function (chunk) {
        next = next.then(function () {
          return PB.api("/v1/activities/" + chunk[0] + "/attendance", { method: "POST",
            body: { records: chunk[1] }, idempotencyKey: chunkKey(chunk[0], chunk[1]) });
        }).then(function (outcome) {
          totals.awarded += outcome.awarded;
          totals.refused += outcome.refused;
          totals.points += outcome.points;
        }, function (error) {
          totals.refused += chunk[1].length;
          status.textContent = error.message;
        }).then(function () {
          totals.done += chunk[1].length;
          progress.value = totals.done;
          status.textContent = PB.t("organizer.csv_progress") + " " + totals.done + "/" + parsed.rows + " · " +
            PB.t("organizer.awarded") + " " + totals.awarded + " · " + PB.t("organizer.refused") + " " +
            totals.refused + " · " + totals.points + " " + PB.t("common.points");
        });
      });
      return next;
    }).catch(function (error) { status.textContent = error.message || String(error); });
  }

  $("activities-refresh").addEventListener("click", loadActivities);
  $("create-form").addEventListener("submit", function (event) { event.preventDefault(); create("published"); });
  $("create-draft").addEventListener("click", function () { create("draft"); });
  $("register-form").addEventListener("submit", register);
  $("reissue-form").addEventListener("submit", reissue);
  $("desk-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if ($("desk-resident").value.trim()) deskCheckin($("desk-resident").value.trim());
  });
  $("desk-scan").addEventListener("click", deskScan);
  $("desk-close").addEventListener("click", closeDesk);
  document.addEventListener("pb:language", function () { if (who && who.realm) loadActivities(); });
  $("csv-file").addEventListener("change", function () {
    if (this.files.length) upload(this.files[0]);
  });

  // The dispatch desk's badge: alerts not acknowledged yet.
  function loadAlertBadge() {
    PB.api("/v1/alerts/count?realm=" + encodeURIComponent(who.realm)).then(function (count) {
      $("alert-badge").textContent = String(count.open);
      PB.show("alert-badge", count.open > 0);
    }, function () { /* no badge then */ });
  }

  PB.onSignIn(function (identity) {
    who = identity;
    if (!who.realm) return PB.say(PB.t("organizer.realm_needed"));
    PB.api("/v1/realms/" + encodeURIComponent(who.realm)).then(function (realm) {
      zone = realm.timezone || zone;
      $("who").textContent = realm.name + (who.station_id !== null ? " · #" + who.station_id : "");
      if (who.station_id !== null) {
        PB.api("/v1/stations/" + who.station_id).then(function (station) {
          $("who").textContent = realm.name + " · " + station.town_name + " · " + station.name;
        }, function () {});
      }
    }, PB.failed).then(function () {
      defaultTimes();
      loadChoices();
      loadActivities();
      loadAlertBadge();
    });
  });
})();
