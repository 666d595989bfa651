// Booking shared resources: a resident (/app/resources) finds services nearest first,
// sees the priority price, books, cancels; the organizer's desk (/app/desk-resources)
// books for a station. Local alternatives are offered when a far one is booked.
"use strict";

(function () {
  var me = null;
  var desk = document.body.getAttribute("data-page") === "desk_resources";

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) { return PB.element(tag, className, text); }

  function button(label, className, onClick) {
    var made = el("button", className, label);
    made.type = "button";
    made.addEventListener("click", function () { onClick(made); });
    return made;
  }

  function station() {
    if (!desk) return null;
    var picked = parseInt($("station").value, 10);
    return picked || me.station_id || null;
  }

  function stationOption(found) {
    var option = el("option", "", found.name);
    option.value = String(found.id);
    return option;
  }

  // The desk's station picker: a station organizer's own station; the realm's stations
  // (by name) for an organizer of the whole realm or an admin.
  function loadStations(cursor) {
    if (me.station_id) {
      return PB.api("/v1/stations/" + me.station_id).then(function (found) {
        $("station").textContent = "";
        $("station").appendChild(stationOption(found));
        $("station").value = String(found.id);
        $("who").textContent = found.name;
      });
    }
    var query = "/v1/stations?realm=" + encodeURIComponent(me.realm) + "&limit=200";
    return PB.api(cursor ? query + "&cursor=" + encodeURIComponent(cursor) : query).then(function (page) {
      page.items.forEach(function (found) { $("station").appendChild(stationOption(found)); });
      if (page.next_cursor) return loadStations(page.next_cursor);
    });
  }

  function nearQuery() {
    var query = "/v1/resources?realm=" + encodeURIComponent(me.realm);
    var kind = $("kind").value;
    if (kind) query += "&kind=" + encodeURIComponent(kind);
    if (station()) query += "&near=" + station();
    return query;
  }

  function resourceItem(resource) {
    var item = el("li", "activity");
    item.setAttribute("data-resource", resource.id);
    item.appendChild(el("p", "title", resource.title));
    var where = [resource.place ? PB.t("resources.place_" + resource.place) : "", resource.station_name,
                 resource.provider_name].filter(Boolean).join(" · ");
    item.appendChild(el("p", "meta", PB.t("resources.kind_" + resource.kind) + " · " + where));
    if (resource.description) item.appendChild(el("p", "meta", resource.description));
    if (!desk && resource.priority_price > 0) {     // priority is paid from a resident's points
      item.appendChild(el("p", "offer", PB.format("resources.book_priority", { price: PB.number(resource.priority_price) })));
      item.appendChild(el("p", "meta", PB.t(resource.no_show_forfeit ? "resources.no_show_forfeit"
                                                                     : "resources.no_show_returned")));
    }
    var slots = el("ul", "rows");
    var actions = el("div", "actions");
    actions.appendChild(button(PB.t("resources.slots"), "small", function (pressed) {
      PB.pending(pressed, function () { return loadSlots(resource, slots); }).catch(PB.failed);
    }));
    item.appendChild(actions);
    item.appendChild(slots);
    return item;
  }

  function loadSlots(resource, list) {
    return PB.api("/v1/resources/" + resource.id + "/slots").then(function (page) {
      list.textContent = "";
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("resources.no_slots")));
      page.items.forEach(function (slot) { list.appendChild(slotItem(resource, slot)); });
    });
  }

  function slotItem(resource, slot) {
    var row = el("li", "row");
    row.setAttribute("data-slot", slot.id);
    row.appendChild(el("span", "what", PB.timeRange(slot.starts_at, slot.ends_at)));
    row.appendChild(el("span", "meta", PB.t("resources.free") + " " + slot.free_places + "/" + slot.capacity));
    var actions = el("div", "actions");
    if (slot.free_places > 0) {
      actions.appendChild(button(PB.t("resources.book"), "small", function (pressed) { book(slot.id, false, pressed); }));
    }
    if (!desk && resource.priority_price > 0 && slot.free_priority_places > 0) {
      actions.appendChild(button(PB.format("resources.book_priority", { price: PB.number(resource.priority_price) }),
                                 "", function (pressed) { book(slot.id, true, pressed); }));
    }
    row.appendChild(actions);
    return row;
  }

  function book(slotId, priority, pressed) {
    var body = { slot_id: slotId, priority: priority };
    if (desk) body.station_id = station();
    var key = PB.newIdempotencyKey();     // one key for this press: a retry books once
    PB.pending(pressed, function () {
      return PB.api("/v1/reservations", { method: "POST", body: body, idempotencyKey: key });
    }).then(function (booked) {
      if (!booked) return;
      PB.say(priority ? PB.format("resources.booked_priority", { price: PB.number(booked.price) })
                      : PB.t("resources.booked"), "ok");
      showAlternatives(booked.alternatives);
      return Promise.all([loadResources(), loadMine()]);     // the places left changed
    }).catch(PB.failed);
  }

  function showAlternatives(alternatives) {
    var list = $("alternatives");
    list.textContent = "";
    (alternatives || []).forEach(function (alternative) {
      var row = el("li", "row");
      row.appendChild(el("span", "what", alternative.title));
      row.appendChild(el("span", "meta", PB.t("resources.place_" + alternative.place) + " · " +
                                         PB.timeRange(alternative.starts_at, alternative.ends_at) + " · " +
                                         PB.t("resources.free") + " " + alternative.free_places));
      var actions = el("div", "actions");
      actions.appendChild(button(PB.t("resources.book"), "small", function (pressed) {
        book(alternative.slot_id, false, pressed);
      }));
      row.appendChild(actions);
      list.appendChild(row);
    });
    PB.show("alternatives-card", !!(alternatives && alternatives.length));
  }

  function pointsWords(reservation) {
    if (!reservation.priority) return "";
    return PB.format("resources.points_" + reservation.points, { price: PB.number(reservation.price) });
  }

  function reservationItem(reservation) {
    var row = el("li", "row");
    row.setAttribute("data-reservation", reservation.id);
    row.appendChild(el("span", "what", reservation.title));
    row.appendChild(el("span", "status", PB.t("resources.status_" + reservation.status)));
    row.appendChild(el("span", "meta", PB.timeRange(reservation.starts_at, reservation.ends_at) + " · " +
                                       reservation.provider_name));
    var points = pointsWords(reservation);
    if (points) row.appendChild(el("span", "sub", points));
    if (reservation.status === "booked" && new Date(reservation.cancel_until) > new Date()) {
      row.appendChild(el("span", "meta", PB.t("resources.cancel_until") + " " + PB.when(reservation.cancel_until)));
      var actions = el("div", "actions");
      actions.appendChild(button(PB.t("resources.cancel"), "small danger", function (pressed) {
        cancel(reservation.id, pressed);
      }));
      row.appendChild(actions);
    }
    return row;
  }

  function cancel(reservationId, pressed) {
    var key = PB.newIdempotencyKey();
    PB.pending(pressed, function () {
      return PB.api("/v1/reservations/" + reservationId + "/cancel", { method: "POST", idempotencyKey: key });
    }).then(function (done) {
      if (!done) return;
      PB.say(PB.t("resources.cancelled_done"), "ok");
      return loadMine();
    }).catch(PB.failed);
  }

  function loadResources() {
    return PB.api(nearQuery()).then(function (page) {
      var list = $("resources");
      list.textContent = "";
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("resources.none")));
      page.items.forEach(function (resource) { list.appendChild(resourceItem(resource)); });
    });
  }

  function loadMine() {
    var query = "/v1/reservations?realm=" + encodeURIComponent(me.realm);
    if (desk && station()) query += "&station_id=" + station();
    return PB.api(query).then(function (page) {
      var list = $("mine");
      list.textContent = "";
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("resources.none_mine")));
      page.items.forEach(function (reservation) { list.appendChild(reservationItem(reservation)); });
    });
  }

  function reload() { return Promise.all([loadResources(), loadMine()]).catch(PB.failed); }

  $("kind").addEventListener("change", function () { loadResources().catch(PB.failed); });
  if (desk) $("station").addEventListener("change", reload);

  PB.onSignIn(function (identity) {
    me = identity;
    $("who").textContent = "";
    if (desk) loadStations().then(reload, PB.failed);
    else reload();
  });
})();
