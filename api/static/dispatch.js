// The organizer's dispatch desk (派单): alerts first (averages fallen below 3, requests
// rated 1 or 2), then the queue (most urgent and oldest first) with suggested
// volunteers to dispatch to, volunteers waiting for approval, and recent requests.
"use strict";

(function () {
  var SUBJECTS = { activity: "dispatch.subject_activity", organizer: "dispatch.subject_organizer",
                   volunteer: "dispatch.subject_volunteer", service_request: "dispatch.subject_request" };
  var STATES = { open: "services.state_open", dispatched: "services.state_dispatched",
                 accepted: "services.state_accepted", done: "services.state_done",
                 confirmed: "services.state_confirmed", cancelled: "services.state_cancelled" };
  var RATINGS = [5, 4, 3, 2, 1];
  var who = null;
  var nextCursor = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) { return PB.element(tag, className, text); }
  function realmQuery() { return "realm=" + encodeURIComponent(who.realm); }

  function post(path, body) {
    return PB.api(path, { method: "POST", body: body || {}, idempotencyKey: PB.newIdempotencyKey() });
  }

  function button(label, className, onClick) {
    var node = el("button", className, label);
    node.type = "button";
    node.addEventListener("click", function () { PB.pending(node, onClick); });
    return node;
  }

  // Alerts ----------------------------------------------------------------------------------

  function alertText(alert) {
    var subject = PB.t(SUBJECTS[alert.subject_kind] || "dispatch.subject_activity") + " #" + alert.subject_key;
    if (alert.kind === "low_rating") return subject + " · " + PB.t("dispatch.low_rating") + " " + alert.total + " ★";
    var average = (alert.total / alert.ratings).toFixed(1);
    return subject + " · " + PB.t("dispatch.average_below") + " " + average + " (" + alert.ratings + ")";
  }

  function loadAlerts() {
    return PB.api("/v1/alerts?open=true&" + realmQuery()).then(function (page) {
      var list = $("alerts");
      list.textContent = "";
      page.items.forEach(function (alert) {
        var item = el("li", "activity");
        item.setAttribute("data-alert", alert.id);
        item.appendChild(el("p", "title", alertText(alert)));
        item.appendChild(el("p", "meta", PB.when(alert.created_at)));
        var actions = el("div", "actions");
        actions.appendChild(button(PB.t("dispatch.acknowledge"), "small", function () {
          return post("/v1/alerts/" + alert.id + "/acknowledge").then(loadAlerts, PB.failed);
        }));
        item.appendChild(actions);
        list.appendChild(item);
      });
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("dispatch.no_alerts")));
      $("alert-count").textContent = String(page.items.length);
      PB.show("alert-count", page.items.length > 0);
    }, PB.failed);
  }

  // The queue -------------------------------------------------------------------------------

  function queueItem(request) {
    var item = el("li", "activity");
    item.setAttribute("data-request", request.id);
    item.appendChild(el("p", "title", (request.urgent ? PB.t("dispatch.urgent") + " · " : "") +
                                      request.category + " · " + request.description));
    item.appendChild(el("p", "meta", PB.timeRange(request.wanted_from, request.wanted_until)));
    if (request.notes) item.appendChild(el("p", "meta", PB.t("services.notes_short") + ": " + request.notes));
    if (request.overdue) item.appendChild(el("p", "state", PB.t("services.overdue")));
    if (request.queue_note) item.appendChild(el("p", "meta", PB.t("dispatch.returned")));
    var actions = el("div", "actions");
    request.suggestions.forEach(function (volunteer) {
      var name = volunteer.display_name || volunteer.code;
      var facts = volunteer.average !== null ? " · " + volunteer.average + " ★" : "";
      actions.appendChild(button(PB.t("dispatch.send_to") + " " + name + facts, "", function () {
        return post("/v1/service-requests/" + request.id + "/dispatch", { volunteer_id: volunteer.resident_id })
          .then(function () {
            PB.say(PB.t("dispatch.dispatched") + " " + name, "ok");
            return Promise.all([loadQueue(false), loadRecent()]);
          }, PB.failed);
      }));
    });
    if (!request.suggestions.length) actions.appendChild(el("p", "meta", PB.t("dispatch.no_suggestion")));
    item.appendChild(actions);
    return item;
  }

  function loadQueue(more) {
    var list = $("queue");
    var query = "/v1/dispatch-queue?" + realmQuery() + (more && nextCursor ? "&cursor=" + encodeURIComponent(nextCursor) : "");
    return PB.api(query).then(function (page) {
      if (!more) list.textContent = "";
      page.items.forEach(function (request) { list.appendChild(queueItem(request)); });
      if (!list.children.length) list.appendChild(el("li", "none", PB.t("dispatch.empty")));
      nextCursor = page.next_cursor;
      PB.show("queue-more", !!nextCursor);
    }, PB.failed);
  }

  // Volunteers waiting, recent requests --------------------------------------------------------

  function loadPending() {
    return PB.api("/v1/volunteers?status=pending&" + realmQuery()).then(function (page) {
      var list = $("pending");
      list.textContent = "";
      page.items.forEach(function (volunteer) {
        var item = el("li", "activity");
        item.appendChild(el("p", "title", (volunteer.display_name || volunteer.code) + " · " + volunteer.skills.join("、")));
        if (volunteer.availability) item.appendChild(el("p", "meta", volunteer.availability));
        var actions = el("div", "actions");
        [["dispatch.approve", true, ""], ["dispatch.reject", false, "small"]].forEach(function (choice) {
          actions.appendChild(button(PB.t(choice[0]), choice[2], function () {
            return post("/v1/volunteers/" + volunteer.resident_id + "/decision", { approve: choice[1] })
              .then(function () { return Promise.all([loadPending(), loadQueue(false)]); }, PB.failed);
          }));
        });
        item.appendChild(actions);
        list.appendChild(item);
      });
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("dispatch.no_pending")));
    }, PB.failed);
  }

  function loadRecent() {
    return PB.api("/v1/service-requests?view=station&limit=20&" + realmQuery()).then(function (page) {
      var list = $("recent");
      list.textContent = "";
      page.items.forEach(function (request) {
        var item = el("li", "row");
        item.appendChild(el("span", "", "#" + request.id + " " + request.category));
        item.appendChild(el("span", "state", PB.t(STATES[request.state])));
        if (request.rating) item.appendChild(el("span", "", request.rating + " ★"));
        if (request.state === "done") item.appendChild(confirmFor(request));
        list.appendChild(item);
      });
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("services.none")));
    }, PB.failed);
  }

  // Ordering and confirming for a resident without a phone ----------------------------------

  function confirmFor(request) {
    var actions = el("span", "actions");
    var select = el("select");
    select.id = "confirm-rating-" + request.id;
    select.setAttribute("aria-label", PB.t("services.rating"));
    RATINGS.forEach(function (value) {
      var option = el("option", "", value + " ★");
      option.value = String(value);
      select.appendChild(option);
    });
    actions.appendChild(select);
    actions.appendChild(button(PB.t("dispatch.confirm_for"), "small", function () {
      return post("/v1/service-requests/" + request.id + "/confirm", { rating: Number(select.value) })
        .then(function () {
          PB.say(PB.t("services.confirmed"), "ok");
          return loadRecent();
        }, PB.failed);
    }));
    return actions;
  }

  function loadCategories() {
    return PB.api("/v1/realms/" + encodeURIComponent(who.realm) + "/service-settings").then(function (settings) {
      var select = $("behalf-category");
      select.textContent = "";
      settings.skills.forEach(function (skill) {
        var option = el("option", "", skill);
        option.value = skill;
        select.appendChild(option);
      });
    }, PB.failed);
  }

  function orderFor(event) {
    event.preventDefault();
    var day = $("behalf-day").value;
    var body = { resident_id: Number($("behalf-resident").value), category: $("behalf-category").value,
                 description: $("behalf-description").value.trim(),
                 wanted_from: PB.zonedIso(day, $("behalf-from").value),
                 wanted_until: PB.zonedIso(day, $("behalf-until").value),
                 notes: $("behalf-notes").value.trim() || null };
    PB.pending($("behalf-submit"), function () {
      return post("/v1/service-requests", body).then(function () {
        PB.say(PB.t("dispatch.ordered_for"), "ok");
        $("behalf-description").value = "";
        $("behalf-notes").value = "";
        return Promise.all([loadQueue(false), loadRecent()]);
      }, PB.failed);
    });
  }

  $("behalf-form").addEventListener("submit", orderFor);
  $("queue-more").addEventListener("click", function () { loadQueue(true); });
  $("queue-refresh").addEventListener("click", function () {
    Promise.all([loadAlerts(), loadQueue(false), loadPending(), loadRecent()]);
  });

  PB.onSignIn(function (identity) {
    who = identity;
    if (!who.realm) return PB.say(PB.t("organizer.realm_needed"));
    $("who").textContent = who.station_id !== null ? PB.t("dispatch.station") + " #" + who.station_id : "";
    $("behalf-day").value = PB.realmToday();
    $("behalf-from").value = "09:00";
    $("behalf-until").value = "11:00";
    Promise.all([loadAlerts(), loadQueue(false), loadPending(), loadRecent(), loadCategories()]);
  });
})();
