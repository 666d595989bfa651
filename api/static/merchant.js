// Merchant page: scan a voucher's QR (camera) or type its short code, see the voucher,
// then take points only on "确认收取"; today's total, today's redemptions, statements.
"use strict";

(function () {
  var VOUCHER_PREFIX = "PB1:";
  var RECENT_SIZE = 20;
  var stopCamera = null;          // PBScanner's stop(), while the camera is on
  var me = null;
  var merchant = null;
  var found = null;               // {body: {code} or {short_code}, voucher: the preview}
  var pending = null;             // {body, key}: a retry of the same redemption reuses its key
  var overview = null;
  var recentRows = [];

  function $(id) { return document.getElementById(id); }

  function clearResult() { PB.show("result", false); }

  function showResult(text, detail, ok) {
    $("result-text").textContent = text;
    $("result-detail").textContent = detail || "";
    $("result").className = "card result " + (ok ? "ok" : "refused");
    PB.show("result", true);
    $("result").scrollIntoView();
  }

  function assetName(asset) { return PB.t("asset." + asset); }

  function scopeText(voucher) {
    if (voucher.merchant_id !== null && voucher.merchant_id !== undefined) {
      return PB.format("merchant.scope_here", { merchant: voucher.merchant_name || ("#" + voucher.merchant_id) });
    }
    if (voucher.merchant_kind === "agri_shop") return PB.t("resident.merchant_any_agri");
    return PB.t("resident.merchant_any");
  }

  // The voucher, before anything moves ----------------------------------------------

  function renderPreview() {
    if (!found) return PB.show("preview", false);
    var voucher = found.voucher;
    $("preview-face").textContent = PB.number(voucher.amount) + " " + assetName(voucher.asset);
    $("preview-status").textContent = PB.t("status." + voucher.status);
    $("preview-scope").textContent = scopeText(voucher);
    $("preview-expires").textContent = PB.format("resident.expires_words", { date: PB.lastDay(voucher.expires_at) });
    var refusal = voucher.refusal;
    $("preview-refusal").textContent = refusal ? PB.t("merchant.not_usable") + PB.refusal(refusal) : "";
    PB.show("preview-refusal", !!refusal);
    PB.show("confirm-form", !refusal);
    PB.show("preview", true);
  }

  function lookUp(body, button) {
    clearResult();
    found = null;
    renderPreview();
    return PB.pending(button, function () {
      return PB.api("/v1/redemptions/preview", { method: "POST", body: body }).then(function (voucher) {
        found = { body: body, voucher: voucher };
        $("take-amount").value = String(voucher.amount);
        renderPreview();
        $("preview").scrollIntoView();
        if (!voucher.refusal) $("take-amount").focus();
      });
    }).catch(function (error) { showResult(error.message, "", false); });
  }

  function typed(event) {
    event.preventDefault();
    var shortCode = $("short-code").value.trim();
    if (!shortCode) return showResult(PB.t("error.short_code_invalid"), "", false);
    lookUp({ short_code: shortCode }, $("lookup"));
  }

  // Taking the points -------------------------------------------------------------------

  function confirmTake(event) {
    event.preventDefault();
    if (!found) return;
    var amount = PB.wholeNumber($("take-amount"));
    if (!(amount > 0)) return showResult(PB.t("error.voucher_amount_invalid"), "", false);
    if (amount > found.voucher.amount) return showResult(PB.t("error.voucher_amount_exceeded"), "", false);
    var body = JSON.parse(JSON.stringify(found.body));
    body.amount = amount;
    var same = pending && JSON.stringify(pending.body) === JSON.stringify(body);
    if (!same) pending = { body: body, key: PB.newIdempotencyKey() };
    var face = found.voucher.amount;
    clearResult();
    PB.pending($("confirm"), function () {
      return PB.api("/v1/redemptions", { method: "POST", body: body, idempotencyKey: pending.key });
    }).then(function (redemption) {
      if (!redemption) return;
      pending = null;
      found = null;
      renderPreview();
      $("lookup-form").reset();
      var returned = face - redemption.amount;
      var detail = (returned > 0 ? PB.format("merchant.returned", { n: PB.number(returned) }) + " · " : "") +
        PB.format("merchant.at", { time: PB.when(redemption.created_at) });
      showResult(PB.t("merchant.received") + " " + PB.number(redemption.amount) + " " + PB.t("common.points"),
                 detail, true);
      refresh();
    }, function (error) {
      if (error.status !== 0 && error.status < 500) pending = null;  // a definite answer
      showResult(error.message, "", false);
    });
  }

  function cancelPreview() {
    found = null;
    renderPreview();
  }

  // Today, recent redemptions, statements ---------------------------------------------

  function renderOverview() {
    if (!overview) return;
    $("today-total").textContent = PB.format("merchant.today_total", {
      points: PB.number(overview.today.points), count: PB.number(overview.today.redemptions) });
    $("unsettled").textContent = PB.format("merchant.unsettled", { points: PB.number(overview.unsettled_points) });
    renderStatements();
  }

  function renderRecent() {
    var list = $("recent");
    list.textContent = "";
    if (!recentRows.length) list.appendChild(PB.element("li", "none", PB.t("merchant.recent_empty")));
    recentRows.forEach(function (line) {
      var row = PB.element("li", "row");
      row.appendChild(PB.element("span", "what", assetName(line.asset)));
      row.appendChild(PB.element("span", "amount plus", PB.signed(line.points)));
      row.appendChild(PB.element("span", "time", PB.when(line.time)));
      list.appendChild(row);
    });
  }

  function renderStatements() {
    var list = $("statements");
    list.textContent = "";
    var statements = overview ? overview.statements : [];
    if (!statements.length) list.appendChild(PB.element("li", "none", PB.t("merchant.statements_empty")));
    statements.forEach(function (statement) {
      list.appendChild(PB.statementRow(PB.element("li", "row"), statement, "what"));
    });
  }

  function refresh() {
    var base = "/v1/merchants/" + me.merchant_id;
    return Promise.all([
      PB.api(base + "/overview").then(function (answer) { overview = answer; renderOverview(); }),
      PB.api(base + "/redemptions?since=today&limit=" + RECENT_SIZE).then(function (page) {
        recentRows = page.items;
        renderRecent();
      })
    ]).catch(PB.failed);
  }

  // Camera ------------------------------------------------------------------------

  function stopScan() {
    if (stopCamera) stopCamera();
    stopCamera = null;
    PB.show("camera", false);
    PB.show("scan", true);
  }

  function startScan() {
    clearResult();
    PB.show("scan", false);
    PB.show("camera", true);
    stopCamera = PBScanner.start($("video"), VOUCHER_PREFIX, function (code) {
      stopScan();
      lookUp({ code: code }, null);
    }, function () {
      stopScan();
      showResult(PB.t("merchant.no_camera"), "", false);
    });
  }

  $("lookup-form").addEventListener("submit", typed);
  $("confirm-form").addEventListener("submit", confirmTake);
  $("preview-cancel").addEventListener("click", cancelPreview);
  $("scan").addEventListener("click", startScan);
  $("scan-stop").addEventListener("click", stopScan);

  document.addEventListener("pb:language", function () {
    if (!me) return;
    renderPreview();
    renderOverview();
    renderRecent();
    if (merchant) $("who").textContent = merchant.name;
  });

  PB.onSignIn(function (identity) {
    me = identity;
    $("who").textContent = "";
    PB.api("/v1/merchants/" + identity.merchant_id).then(function (answer) {
      merchant = answer;
      $("who").textContent = merchant.name;
    }, function () { /* the page works without the name */ });
    refresh();
  });
})();
