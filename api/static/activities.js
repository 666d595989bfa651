// Residents' activities: what is on (nearest first, points on offer), sign up and cancel,
// scan the venue's code to check in and out, show my own code, my activities and awards.
"use strict";

(function () {
  var CODE_PREFIX = "PBV1.";
  var MY_CODE_REFRESH_MS = 25000;     // the code rotates every 30 s
  var MY_CODE_SHOWN_MS = 5 * 60000;   // then it hides itself (battery)
  var me = null;
  var nextCursor = null;
  var stopScan = null;
  var codeTimer = null;
  var codeUrl = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) { return PB.element(tag, className, text); }

  function stateText(activity) {
    if (activity.my_points) return PB.t("activities.awarded") + " " + activity.my_points + " " + PB.t("common.points");
    if (activity.my_checked_out_at) return PB.t("activities.checked_out");
    if (activity.my_checked_in_at) return PB.t("activities.checked_in");
    if (activity.status === "closed") return PB.t("activities.ended");
    if (activity.status === "cancelled") return PB.t("activities.cancelled");
    if (activity.my_signup === "confirmed") return PB.t("activities.signed_up");
    if (activity.my_signup === "waitlisted") return PB.t("activities.waitlisted");
    return "";
  }

  function places(activity) {
    if (activity.capacity === null) return PB.t("activities.no_limit");
    return PB.t("activities.places") + " " + activity.confirmed_count + "/" + activity.capacity;
  }

  function activityItem(activity, withActions) {
    var item = el("li", "activity");
    item.setAttribute("data-activity", activity.id);
    item.appendChild(el("p", "title", activity.title));
    if (activity.my_points) item.appendChild(el("p", "award", stateText(activity)));
    item.appendChild(el("p", "meta", PB.timeRange(activity.starts_at, activity.ends_at)));
    item.appendChild(el("p", "meta", [activity.place, activity.station_name].filter(Boolean).join(" · ")));
    var line = el("p", "meta");
    var facts = activity.type_name + " · " + places(activity);
    if (!activity.my_points) {     // once awarded, the award says it all
      line.appendChild(el("span", "offer", PB.t("activities.offer") + " " + activity.points_on_offer + " " +
                                           PB.t("common.points")));
      facts = " · " + facts;
    }
    line.appendChild(document.createTextNode(facts));
    item.appendChild(line);
    if (activity.description) item.appendChild(el("p", "meta", activity.description));
    var state = stateText(activity);
    if (state && !activity.my_points) item.appendChild(el("p", "state", state));
    if (withActions) item.appendChild(actions(activity));
    return item;
  }

  function actions(activity) {
    var box = el("div", "actions");
    var button;
    if (activity.my_signup === "confirmed" || activity.my_signup === "waitlisted") {
      button = el("button", "small", PB.t("activities.cancel_signup"));
      button.addEventListener("click", function () { cancel(activity, button); });
    } else {
      button = el("button", "", PB.t("activities.sign_up"));
      button.addEventListener("click", function () { signUp(activity, button); });
    }
    button.type = "button";
    box.appendChild(button);
    return box;
  }

  function signUp(activity, button) {
    button.disabled = true;
    PB.api("/v1/activities/" + activity.id + "/signups", { method: "POST", body: {} }).then(function (signup) {
      PB.say(signup.status === "confirmed" ? PB.t("activities.signup_done")
             : PB.t("activities.signup_waitlisted") + " " + signup.waitlist_place, "ok");
      reload();
    }, function (error) { button.disabled = false; PB.failed(error); });
  }

  function cancel(activity, button) {
    if (!confirm(PB.t("activities.cancel_confirm"))) return;
    button.disabled = true;
    PB.api("/v1/activities/" + activity.id + "/signups/" + me.id, { method: "DELETE" }).then(function () {
      PB.say(PB.t("activities.cancel_done"), "ok");
      reload();
    }, function (error) { button.disabled = false; PB.failed(error); });
  }

  function upcomingQuery(cursor) {
    var query = "?realm=" + encodeURIComponent(me.realm) + "&upcoming=true";
    if ($("filter-type").value) query += "&type=" + encodeURIComponent($("filter-type").value);
    if ($("filter-date").value) query += "&date=" + encodeURIComponent($("filter-date").value);
    if (cursor) query += "&cursor=" + encodeURIComponent(cursor);
    return query;
  }

  function loadUpcoming(more) {
    var list = $("upcoming");
    if (!more) list.textContent = "";
    return PB.api("/v1/activities" + upcomingQuery(more ? nextCursor : null)).then(function (page) {
      page.items.forEach(function (activity) { list.appendChild(activityItem(activity, true)); });
      if (!list.children.length) list.appendChild(el("li", "none", PB.t("activities.none_upcoming")));
      nextCursor = page.next_cursor;
      PB.show("upcoming-more", !!nextCursor);
    }, PB.failed);
  }

  function loadMine() {
    var list = $("mine");
    return PB.api("/v1/residents/" + me.id + "/activities").then(function (page) {
      list.textContent = "";
      page.items.forEach(function (activity) { list.appendChild(activityItem(activity, false)); });
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("activities.none_mine")));
    }, PB.failed);
  }

  function reload() { return Promise.all([loadUpcoming(false), loadMine()]); }

  function loadTypes() {
    PB.api("/v1/activity-types?realm=" + encodeURIComponent(me.realm)).then(function (types) {
      types.items.forEach(function (type) {
        var option = el("option", "", type.name);
        option.value = type.code;
        $("filter-type").appendChild(option);
      });
    }, function () { /* the filter stays at "all" */ });
  }

  // Check in and out by scanning the venue's code ---------------------------------------

  function showResult(text, detail, ok) {
    $("result-text").textContent = text;
    $("result-detail").textContent = detail || "";
    $("result").className = "card result " + (ok ? "ok" : "refused");
    PB.show("result", true);
    $("result").scrollIntoView();
  }

  function scanned(code) {
    PB.show("camera", false);
    PB.show("scan", true);
    PB.api("/v1/checkins", { method: "POST", body: { code: code } }).then(function (checkin) {
      if (checkin.action === "in") {
        showResult(PB.t("activities.checked_in"), checkin.title + " · " + PB.when(checkin.checked_in_at), true);
      } else {
        showResult(PB.t("activities.checked_out"), checkin.title + " · " + checkin.minutes + " " +
                   PB.t("activities.minutes"), true);
      }
      loadMine();
    }, function (error) { showResult(error.message, "", false); });
  }

  function startScan() {
    PB.show("result", false);
    PB.show("scan", false);
    PB.show("camera", true);
    stopScan = PBScanner.start($("video"), CODE_PREFIX, scanned, function () {
      PB.show("camera", false);
      PB.show("scan", true);
      showResult(PB.t("activities.no_camera"), "", false);
    });
  }

  function endScan() {
    if (stopScan) stopScan();
    PB.show("camera", false);
    PB.show("scan", true);
  }

  // My own code, for the desk to scan ---------------------------------------------------

  function refreshCode() {
    PB.api("/v1/residents/" + me.id + "/checkin-code.png", { blob: true }).then(function (picture) {
      if (codeUrl) URL.revokeObjectURL(codeUrl);
      codeUrl = URL.createObjectURL(picture);
      $("my-code-qr").src = codeUrl;
    }, PB.failed);
  }

  function showCode() {
    PB.show("my-code", true);
    $("my-code-name").textContent = (me.display_name || "") + " " + me.code;
    refreshCode();
    if (codeTimer) clearInterval(codeTimer);
    codeTimer = setInterval(refreshCode, MY_CODE_REFRESH_MS);
    setTimeout(function () { clearInterval(codeTimer); PB.show("my-code", false); }, MY_CODE_SHOWN_MS);
  }

  $("scan").addEventListener("click", startScan);
  $("scan-stop").addEventListener("click", endScan);
  $("show-code").addEventListener("click", showCode);
  $("upcoming-more").addEventListener("click", function () { loadUpcoming(true); });
  $("filter-type").addEventListener("change", function () { loadUpcoming(false); });
  $("filter-date").addEventListener("change", function () { loadUpcoming(false); });
  document.addEventListener("pb:language", function () { if (me) reload(); });

  PB.onSignIn(function (identity) {
    PB.api("/v1/residents/" + identity.resident_id).then(function (resident) {
      me = resident;
      $("who").textContent = (resident.display_name || resident.code);
      loadTypes();
      reload();
    }, PB.failed);
  });
})();
