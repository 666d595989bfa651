// Sign in from an enrolment card: the card's QR opens /app/enrol#code=…, or the code is
// typed here. The code is traded once for this device's sign-in, then the role's page opens.
"use strict";

(function () {
  var form = document.getElementById("enrol-form");
  var field = document.getElementById("enrol-code");
  var busy = false;

  function submit(code) {
    if (busy || !code) return;
    busy = true;
    document.getElementById("enrol-submit").disabled = true;
    PB.say(PB.t("signin.checking"), "info");
    PB.claim(code).then(function (claimed) {
      PB.say(PB.t("enrol.done"), "ok");
      location.replace(claimed[1]);
    }, function (error) {
      PB.failed(error);
      busy = false;
      document.getElementById("enrol-submit").disabled = false;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit(field.value.trim());
  });

  // The code travels after '#', which browsers never send to a server; take it off the
  // address bar at once so it is not left in the history.
  var match = /[#&]code=([^&]+)/.exec(location.hash);
  if (match) {
    field.value = decodeURIComponent(match[1]);
    history.replaceState(null, "", location.pathname);
    PB.onReady(function () { submit(field.value.trim()); });
  }
})();
