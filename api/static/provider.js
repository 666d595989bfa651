// A service provider's page (a service_provider merchant's token): a day's bookings,
// each marked attended (priority points paid to the provider) or no-show, or cancelled.
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
    var who = reservation.resident_id ? PB.t("resources.booker_resident") + " " + reservation.resident_id
                                      : PB.t("resources.booker_station") + " " + reservation.station_id;
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

  function load() {
    var day = $("day").value || today();
    return PB.api("/v1/reservations?realm=" + encodeURIComponent(me.realm) + "&day=" + day).then(function (page) {
      var list = $("bookings");
      list.textContent = "";
      if (!page.items.length) list.appendChild(el("li", "none", PB.t("resources.none_day")));
      page.items.slice().reverse().forEach(function (reservation) { list.appendChild(bookingItem(reservation)); });
    });
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
