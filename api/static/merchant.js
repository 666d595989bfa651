// Merchant page: receive points by scanning a voucher's QR (camera) or typing its short code.
"use strict";

(function () {
  var SCAN_INTERVAL_MS = 250;
  var VOUCHER_PREFIX = "PB1:";
  var DECODER_URL = "/static/vendor/jsqr/jsQR.js";   // vendored, loaded only when scanning
  var stream = null;
  var scanTimer = null;
  var busy = false;
  var pending = null;             // {body, key}: a retry of the same request reuses its key

  function $(id) { return document.getElementById(id); }

  function showResult(text, detail, ok) {
    $("result-text").textContent = text;
    $("result-detail").textContent = detail || "";
    $("result").className = "card result " + (ok ? "ok" : "refused");
    PB.show("result", true);
    $("result").scrollIntoView();
  }

  function redeem(body) {
    if (busy) return;
    var same = pending && JSON.stringify(pending.body) === JSON.stringify(body);
    if (!same) pending = { body: body, key: PB.newIdempotencyKey() };
    busy = true;
    PB.say("");
    PB.api("/v1/redemptions", { method: "POST", body: body, idempotencyKey: pending.key })
      .then(function (redemption) {
        pending = null;
        $("redeem-form").reset();
        showResult(PB.t("merchant.received") + " " + redemption.amount + " " + PB.t("common.points"),
                   PB.t("merchant.voucher_no") + " " + redemption.voucher_id, true);
      }, function (error) {
        if (error.status !== 0 && error.status < 500) pending = null;  // a definite answer
        var network = error.problem && error.problem.code === "network";
        showResult(network ? PB.t("common.network") : error.message, "", false);
      }).then(function () { busy = false; });
  }

  function amountOrNothing(body) {
    var amount = PB.wholeNumber($("redeem-amount"));
    if (amount === null) return body;
    if (!(amount > 0)) return null;
    body.amount = amount;
    return body;
  }

  function typed(event) {
    event.preventDefault();
    var shortCode = $("short-code").value.trim();
    if (!shortCode) return showResult(PB.t("error.short_code_invalid"), "", false);
    var body = amountOrNothing({ short_code: shortCode });
    if (!body) return showResult(PB.t("error.voucher_amount_invalid"), "", false);
    redeem(body);
  }

  // Camera ------------------------------------------------------------------------

  function loadDecoder() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = DECODER_URL;
      script.onload = function () { resolve(window.jsQR); };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function stopScan() {
    if (scanTimer) clearInterval(scanTimer);
    scanTimer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    PB.show("camera", false);
    PB.show("scan", true);
  }

  function scanFrame(video, canvas, decode) {
    if (busy || video.readyState < 2 || !video.videoWidth) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    var context = canvas.getContext("2d");
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    var image = context.getImageData(0, 0, canvas.width, canvas.height);
    var found = decode(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
    if (!found || found.data.indexOf(VOUCHER_PREFIX) !== 0) return;
    stopScan();
    var body = amountOrNothing({ code: found.data });
    if (!body) return showResult(PB.t("error.voucher_amount_invalid"), "", false);
    redeem(body);
  }

  function startScan() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return showResult(PB.t("merchant.no_camera"), "", false);
    }
    Promise.all([loadDecoder(),
                 navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })])
      .then(function (ready) {
        var video = $("video");
        stream = ready[1];
        video.srcObject = stream;
        video.play();
        PB.show("scan", false);
        PB.show("camera", true);
        var canvas = document.createElement("canvas");
        scanTimer = setInterval(function () { scanFrame(video, canvas, ready[0]); }, SCAN_INTERVAL_MS);
      }, function () { stopScan(); showResult(PB.t("merchant.no_camera"), "", false); });
  }

  $("redeem-form").addEventListener("submit", typed);
  $("scan").addEventListener("click", startScan);
  $("scan-stop").addEventListener("click", stopScan);

  PB.onSignIn(function (identity) {
    $("who").textContent = "#" + identity.merchant_id;
    PB.api("/v1/merchants/" + identity.merchant_id).then(function (merchant) {
      $("who").textContent = merchant.name + " · #" + merchant.id;
    }, function () { /* the number alone is enough to work */ });
  });
})();
