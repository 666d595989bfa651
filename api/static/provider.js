// A service provider's page (a service_provider merchant's token): a day's bookings, by
// the resident's or station's name (a provider is staff for its own bookings), each marked
// attended (priority points paid to the provider) or no-show, or cancelled; the day's
// slots, each cancellable (its bookings cancelled, priority points returned).
"use strict";

(function () {
  var me = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) { return PB.element(tag, className, text); }

  function today() { return PB.isoDay(new Date()); }     // the realm's today, not the phone's

  function act(reservation, path, pressed) {
    var key = PB.newIdempotencyKey();
    PB.pending(pressed, function () {
      return PB.api("/v1/reservations/" + reservation.id + "/" + path, { method: "POST", idempotencyKey: key });
    }).then(function (done) {
      if (!done) return;
      PB.say(PB.t("resources.marked"), "ok");
      return load();
    }).catch(PB.failed);
  }

  function actionButton(label, className, reservation, path) {
    var made = el("button", className, label);
    made.type = "button";
    made.addEventListener("click", function () { act(reservation, path, made); });
    return made;
  }

  function bookingItem(reservation) {
    var row = el("li", "row");
    row.setAttribute("data-reservation", reservation.id);
    row.appendChild(el("span", "what", reservation.title + " · " + PB.timeRange(reservation.starts_at, reservation.ends_at)));
    row.appendChild(el("span", "status", PB.t("resources.status_" + reservation.status)));
    var who = reservation.resident_id
      ? reservation.resident_name || PB.t("resources.booker_resident") + " " + reservation.resident_id
      : reservation.station_name || PB.t("resources.booker_station") + " " + reservation.station_id;
    row.appendChild(el("span", "meta", who));
    if (reservation.priority) {
      row.appendChild(el("span", "sub", PB.format("resources.points_" + reservation.points,
                                                  { price: PB.number(reservation.price) })));
    }
    if (reservation.status === "booked") {
      var actions = el("div", "actions");
      actions.appendChild(actionButton(PB.t("resources.attended"), "", reservation, "attended"));
      actions.appendChild(actionButton(PB.t("resources.no_show"), "small", reservation, "no-show"));
      actions.appendChild(actionButton(PB.t("resources.provider_cancel"), "small danger", reservation, "cancel"));
      row.appendChild(actions);
    }
    return row;
  }

  function loadBookings(day) {
    return PB.api("/v1/reservations?realm=" + encodeURIComponent(me.realm) + "&day=" + day).then(function (page) {
      var list = $("bookings");
      list.textContent = "";
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("resources.none_day")));
      page.items.slice().reverse().forEach(function (reservation) { list.appendChild(bookingItem(reservation)); });
    });
  }

  // The provider's slots on the day (of every resource it offers), each cancellable:
  // its bookings are cancelled and their priority points returned.
  function cancelSlot(resource, slot, pressed) {
    if (!confirm(PB.t("resources.cancel_slot_confirm"))) return;
    var key = PB.newIdempotencyKey();
    PB.pending(pressed, function () {
      return PB.api("/v1/resources/" + resource.id + "/slots/" + slot.id + "/cancel",
                    { method: "POST", idempotencyKey: key });
    }).then(function (cancelled) {
      if (!cancelled) return;
      PB.say(PB.format("resources.slot_cancelled_done", { count: PB.number(cancelled.released || 0) }), "ok");
      return load();
    }).catch(PB.failed);
  }

  function slotItem(resource, slot) {
    var row = el("li", "row");
    row.setAttribute("data-slot", slot.id);
    row.appendChild(el("span", "what", resource.title + " · " + PB.timeRange(slot.starts_at, slot.ends_at)));
    row.appendChild(el("span", "meta", PB.format("resources.booked_count",
                                                 { booked: PB.number(slot.booked), capacity: PB.number(slot.capacity) })));
    if (slot.cancelled_at) {
      row.appendChild(el("span", "status", PB.t("resources.slot_is_cancelled")));
    } else {
      var actions = el("div", "actions");
      var made = el("button", "small danger", PB.t("resources.cancel_slot"));
      made.type = "button";
      made.addEventListener("click", function () { cancelSlot(resource, slot, made); });
      actions.appendChild(made);
      row.appendChild(actions);
    }
    return row;
  }

  function slotsOf(resource, day) {
    return PB.api("/v1/resources/" + resource.id + "/slots?limit=200").then(function (page) {
      return page.items.filter(function (slot) { return PB.isoDay(new Date(slot.starts_at)) === day; })
                       .map(function (slot) { return { resource: resource, slot: slot }; });
    });
  }

  function loadSlots(day) {
    return PB.api("/v1/resources?realm=" + encodeURIComponent(me.realm) + "&limit=200").then(function (page) {
      return Promise.all(page.items.map(function (resource) { return slotsOf(resource, day); }));
    }).then(function (lists) {
      var found = [].concat.apply([], lists).sort(function (a, b) {
        return new Date(a.slot.starts_at) - new Date(b.slot.starts_at);
      });
      var list = $("slots");
      list.textContent = "";
      if (!found.length) list.appendChild(el("li", "none", PB.t("resources.no_slots_day")));
      found.forEach(function (pair) { list.appendChild(slotItem(pair.resource, pair.slot)); });
    });
  }

  function load() {
    var day = $("day").value || today();
    return Promise.all([loadBookings(day), loadSlots(day)]);
  }

  $("day-form").addEventListener("submit", function (event) {
    event.preventDefault();
    load().catch(PB.failed);
  });

  PB.onSignIn(function (identity) {
    me = identity;
    $("day").value = today();
    PB.api("/v1/resource-providers/mine").then(function (provider) {
      $("who").textContent = provider.name;
      return load();
    }, function (error) {
      if (error.status === 403) return PB.say(PB.t("resources.not_provider"));
      PB.failed(error);
    });
  });
})();
