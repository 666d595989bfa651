// Residents' services: order a service (点单), follow it, confirm and rate it (评单);
// volunteers: apply, then my tasks (accept, decline, done) and the points they earned;
// rate an activity attended.
"use strict";

(function () {
  var RATINGS = [5, 4, 3, 2, 1];
  var STATES = { open: "services.state_open", dispatched: "services.state_dispatched",
                 accepted: "services.state_accepted", done: "services.state_done",
                 confirmed: "services.state_confirmed", cancelled: "services.state_cancelled" };
  var me = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) { return PB.element(tag, className, text); }

  function post(path, body) {
    return PB.api(path, { method: "POST", body: body || {}, idempotencyKey: PB.newIdempotencyKey() });
  }

  function button(label, className, onClick) {
    var node = el("button", className, label);
    node.type = "button";
    node.addEventListener("click", function () { PB.pending(node, onClick); });
    return node;
  }

  function ratingSelect(id, labelKey) {
    var label = el("label");
    label.appendChild(el("span", "", PB.t(labelKey)));
    var select = el("select");
    select.id = id;
    RATINGS.forEach(function (value) {
      var option = el("option", "", value + " ★");
      option.value = String(value);
      select.appendChild(option);
    });
    label.appendChild(select);
    return label;
  }

  function requestHeader(request, asVolunteer) {
    var item = el("li", "activity");
    item.setAttribute("data-request", request.id);
    item.appendChild(el("p", "title", request.category + " · " + request.description));
    item.appendChild(el("p", "meta", PB.timeRange(request.wanted_from, request.wanted_until)));
    if (request.notes) item.appendChild(el("p", "meta", PB.t("services.notes_short") + ": " + request.notes));
    var state = PB.t(asVolunteer && request.state === "done" ? "services.task_done" : STATES[request.state]);
    if (request.overdue && request.state !== "confirmed") state += " · " + PB.t("services.overdue");
    item.appendChild(el("p", "state", state));
    return item;
  }

  // My points -----------------------------------------------------------------------------

  function loadPoints() {
    return PB.api("/v1/residents/" + me.id).then(function (resident) {
      var civic = resident.accounts.filter(function (a) { return a.asset === "civic"; })[0];
      $("points").textContent = PB.number(civic ? civic.balance : 0) + " " + PB.t("common.points");
    }, PB.failed);
  }

  // Ordering and my requests ----------------------------------------------------------------

  function loadSettings() {
    return PB.api("/v1/realms/" + encodeURIComponent(me.realm) + "/service-settings").then(function (settings) {
      var select = $("order-category");
      select.textContent = "";
      var skills = $("apply-skills");
      while (skills.children.length > 1) skills.removeChild(skills.lastChild);
      settings.skills.forEach(function (skill) {
        var option = el("option", "", skill);
        option.value = skill;
        select.appendChild(option);
        var label = el("label", "check");
        var box = el("input");
        box.type = "checkbox";
        box.value = skill;
        label.appendChild(box);
        label.appendChild(el("span", "", skill));
        skills.appendChild(label);
      });
    }, PB.failed);
  }

  function order(event) {
    event.preventDefault();
    var day = $("order-day").value;
    var body = { category: $("order-category").value, description: $("order-description").value.trim(),
                 wanted_from: PB.zonedIso(day, $("order-from").value),
                 wanted_until: PB.zonedIso(day, $("order-until").value),
                 notes: $("order-notes").value.trim() || null, urgent: $("order-urgent").checked };
    PB.pending($("order-submit"), function () {
      return post("/v1/service-requests", body).then(function () {
        PB.say(PB.t("services.ordered"), "ok");
        $("order-description").value = "";
        $("order-notes").value = "";
        return loadRequests();
      }, PB.failed);
    });
  }

  function requestItem(request) {
    var item = requestHeader(request);
    var actions = el("div", "actions");
    if (request.state === "done") {
      actions.appendChild(ratingSelect("rate-" + request.id, "services.rating"));
      var comment = el("input");
      comment.id = "comment-" + request.id;
      comment.maxLength = 500;
      comment.setAttribute("aria-label", PB.t("services.comment"));
      comment.placeholder = PB.t("services.comment");
      actions.appendChild(comment);
      actions.appendChild(button(PB.t("services.confirm"), "", function () {
        var body = { rating: parseInt($("rate-" + request.id).value, 10), comment: comment.value.trim() || null };
        return post("/v1/service-requests/" + request.id + "/confirm", body).then(function () {
          PB.say(PB.t("services.confirmed"), "ok");
          return Promise.all([loadRequests(), loadPoints()]);
        }, PB.failed);
      }));
    } else if (request.state === "confirmed" && request.rating) {
      item.appendChild(el("p", "meta", PB.t("services.rated") + " " + request.rating + " ★"));
    } else if (request.state !== "cancelled" && request.state !== "confirmed") {
      actions.appendChild(button(PB.t("services.cancel"), "small", function () {
        if (!confirm(PB.t("services.cancel_confirm"))) return;
        return post("/v1/service-requests/" + request.id + "/cancel").then(loadRequests, PB.failed);
      }));
    }
    if (actions.children.length) item.appendChild(actions);
    return item;
  }

  function loadRequests() {
    return PB.api("/v1/service-requests?view=requested&realm=" + encodeURIComponent(me.realm)).then(function (page) {
      var list = $("requests");
      list.textContent = "";
      page.items.forEach(function (request) { list.appendChild(requestItem(request)); });
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("services.none")));
    }, PB.failed);
  }

  // Volunteering ------------------------------------------------------------------------------

  function apply(event) {
    event.preventDefault();
    var skills = Array.prototype.filter.call($("apply-skills").querySelectorAll("input"), function (box) {
      return box.checked;
    }).map(function (box) { return box.value; });
    var body = { skills: skills, station_ids: [me.station_id],
                 availability: $("apply-availability").value.trim() || null };
    post("/v1/volunteers", body).then(function () {
      PB.say(PB.t("services.applied"), "ok");
      loadVolunteer();
    }, PB.failed);
  }

  function taskItem(task) {
    var item = requestHeader(task, true);
    var actions = el("div", "actions");
    var path = "/v1/service-requests/" + task.id + "/";
    if (task.state === "dispatched") {
      actions.appendChild(button(PB.t("services.accept"), "", function () {
        return post(path + "accept").then(loadTasks, PB.failed);
      }));
      actions.appendChild(button(PB.t("services.decline"), "small", function () {
        return post(path + "decline").then(loadTasks, PB.failed);
      }));
    } else if (task.state === "accepted") {
      var label = el("label");
      label.appendChild(el("span", "", PB.t("services.minutes")));
      var minutes = el("input");
      minutes.id = "minutes-" + task.id;
      minutes.type = "number";
      minutes.min = "1";
      minutes.inputMode = "numeric";
      label.appendChild(minutes);
      actions.appendChild(label);
      actions.appendChild(button(PB.t("services.done"), "", function () {
        var spent = parseInt(minutes.value, 10);
        return post(path + "done", { minutes: isNaN(spent) ? null : spent }).then(loadTasks, PB.failed);
      }));
    } else if (task.state === "confirmed" && task.volunteer_points) {
      item.appendChild(el("p", "award", PB.t("services.earned") + " " + task.volunteer_points + " " +
                                        PB.t("common.points")));
    }
    if (actions.children.length) item.appendChild(actions);
    return item;
  }

  function loadTasks() {
    return PB.api("/v1/service-requests?view=assigned&realm=" + encodeURIComponent(me.realm)).then(function (page) {
      var list = $("tasks");
      list.textContent = "";
      PB.show("tasks-title", true);
      page.items.forEach(function (task) { list.appendChild(taskItem(task)); });
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("services.no_tasks")));
      return loadPoints();
    }, PB.failed);
  }

  function loadVolunteer() {
    return PB.api("/v1/volunteers/" + me.id).then(function (volunteer) {
      PB.show("apply-form", volunteer.status === "rejected");
      $("volunteer-status").textContent = PB.t("services.volunteer_" + volunteer.status) +
        " · " + volunteer.skills.join("、");
      if (volunteer.status !== "approved") return;
      var points = $("points-card");          // a volunteer's tasks come first, under the points
      points.parentNode.insertBefore($("volunteer-card"), points.nextSibling);
      return loadTasks();
    }, function (error) {
      if (error.status !== 404) return PB.failed(error);
      $("volunteer-status").textContent = PB.t("services.volunteer_none");
      PB.show("apply-form", true);
    });
  }

  // Rating activities attended -----------------------------------------------------------------

  function rateableItem(activity) {
    var item = el("li", "activity");
    item.setAttribute("data-activity", activity.id);
    item.appendChild(el("p", "title", activity.title));
    item.appendChild(el("p", "meta", PB.timeRange(activity.starts_at, activity.ends_at)));
    var actions = el("div", "actions");
    actions.appendChild(ratingSelect("activity-rate-" + activity.id, "services.rating"));
    actions.appendChild(button(PB.t("services.rate"), "small", function () {
      var rating = parseInt($("activity-rate-" + activity.id).value, 10);
      return post("/v1/activities/" + activity.id + "/ratings", { rating: rating }).then(function () {
        PB.say(PB.t("services.thanks"), "ok");
        item.replaceChild(el("p", "meta", PB.t("services.rated") + " " + rating + " ★"), actions);
      }, PB.failed);
    }));
    item.appendChild(actions);
    return item;
  }

  function loadRateable() {
    return PB.api("/v1/residents/" + me.id + "/activities").then(function (page) {
      var list = $("rateable");
      list.textContent = "";
      page.items.filter(function (activity) { return activity.my_points || activity.my_checked_in_at; })
        .forEach(function (activity) { list.appendChild(rateableItem(activity)); });
      if (!list.children.length) list.appendChild(el("li", "none", PB.t("services.none_attended")));
    }, PB.failed);
  }

  function defaultTimes() {
    $("order-day").value = PB.realmToday();
    $("order-from").value = "09:00";
    $("order-until").value = "11:00";
  }

  $("order-form").addEventListener("submit", order);
  $("apply-form").addEventListener("submit", apply);

  PB.onSignIn(function (identity) {
    PB.api("/v1/residents/" + identity.resident_id).then(function (resident) {
      me = resident;
      $("who").textContent = resident.display_name || resident.code;
      defaultTimes();
      return Promise.all([loadPoints(), loadSettings(), loadRequests(), loadRateable()]).then(loadVolunteer);
    }, PB.failed);
  });
})();
