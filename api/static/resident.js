// Resident page: balances, history, vouchers (issue, show as QR, cancel).
"use strict";

(function () {
  var PAGE_SIZE = 10;
  var ASSET_ORDER = ["civic", "agri"];   // civic points first: what most residents hold
  var VOUCHER_POLL_MS = 3000;     // while a shown voucher is unused, watch for its redemption
  var me = null;
  var accounts = [];
  var historyRows = [];
  var historyCursor = null;
  var voucherRows = [];
  var voucherCursor = null;
  var shown = null;               // the voucher on screen
  var qrUrl = null;
  var pollTimer = null;
  var pendingIssue = null;        // {body, key}: a retry of the same request reuses its key

  function $(id) { return document.getElementById(id); }

  function renderBalances() {
    var list = $("balances");
    list.textContent = "";
    accounts.forEach(function (account) {
      var row = PB.element("li", "balance");
      row.setAttribute("data-asset", account.asset);
      row.appendChild(PB.element("span", "label", PB.t("asset." + account.asset)));
      row.appendChild(PB.element("span", "points", account.balance));
      list.appendChild(row);
    });
    var select = $("history-asset");
    var chosen = select.value;
    select.textContent = "";
    accounts.forEach(function (account) {
      var option = PB.element("option", "", PB.t("asset." + account.asset));
      option.value = String(account.id);
      select.appendChild(option);
    });
    if (chosen) select.value = chosen;
  }

  function loadBalances() {
    return PB.api("/v1/residents/" + me.resident_id).then(function (resident) {
      accounts = (resident.accounts || []).slice().sort(function (a, b) {
        return ASSET_ORDER.indexOf(a.asset) - ASSET_ORDER.indexOf(b.asset);
      });
      $("who").textContent = (resident.display_name || "") + " · " + resident.code;
      renderBalances();
    });
  }

  function renderHistory() {
    var list = $("history");
    list.textContent = "";
    if (!historyRows.length) list.appendChild(PB.element("li", "none", PB.t("common.none")));
    historyRows.forEach(function (posting) {
      var row = PB.element("li", "row");
      row.appendChild(PB.element("span", "what", PB.t("kind." + posting.kind)));
      row.appendChild(PB.element("span", posting.amount > 0 ? "amount plus" : "amount minus", PB.signed(posting.amount)));
      row.appendChild(PB.element("span", "after", "= " + posting.balance_after));
      row.appendChild(PB.element("span", "time", PB.when(posting.created_at)));
      list.appendChild(row);
    });
    PB.show("history-more", !!historyCursor);
  }

  function loadHistory(more) {
    var accountId = $("history-asset").value;
    if (!accountId) { historyRows = []; historyCursor = null; return renderHistory(); }
    var path = "/v1/accounts/" + accountId + "/postings?limit=" + PAGE_SIZE +
      (more && historyCursor ? "&cursor=" + encodeURIComponent(historyCursor) : "");
    return PB.api(path).then(function (page) {
      historyRows = more ? historyRows.concat(page.items) : page.items;
      historyCursor = page.next_cursor;
      renderHistory();
    });
  }

  function renderVouchers() {
    var list = $("vouchers");
    list.textContent = "";
    if (!voucherRows.length) list.appendChild(PB.element("li", "none", PB.t("common.none")));
    voucherRows.forEach(function (voucher) {
      var row = PB.element("li", "row");
      row.setAttribute("data-voucher", voucher.id);
      row.appendChild(PB.element("span", "code", voucher.short_code));
      row.appendChild(PB.element("span", "amount", voucher.amount + " " + PB.t("asset." + voucher.asset)));
      row.appendChild(PB.element("span", "status status-" + voucher.status, PB.t("status." + voucher.status)));
      if (voucher.status === "issued") {
        var button = PB.element("button", "small", PB.t("resident.show"));
        button.type = "button";
        button.addEventListener("click", function () { showVoucher(voucher); });
        row.appendChild(button);
      }
      list.appendChild(row);
    });
    PB.show("vouchers-more", !!voucherCursor);
  }

  function loadVouchers(more) {
    var path = "/v1/vouchers?limit=" + PAGE_SIZE +
      (more && voucherCursor ? "&cursor=" + encodeURIComponent(voucherCursor) : "");
    return PB.api(path).then(function (page) {
      voucherRows = more ? voucherRows.concat(page.items) : page.items;
      voucherCursor = page.next_cursor;
      renderVouchers();
    });
  }

  function refreshAll() {
    return Promise.all([loadBalances().then(function () { return loadHistory(false); }), loadVouchers(false)])
      .catch(PB.failed);
  }

  function renderShown() {
    if (!shown) return PB.show("voucher", false);
    $("voucher-short").textContent = shown.short_code;
    $("voucher-amount").textContent = shown.amount;
    $("voucher-asset").textContent = PB.t("asset." + shown.asset);
    $("voucher-status").textContent = PB.t("status." + shown.status);
    $("voucher-status").className = "status status-" + shown.status;
    $("voucher-expires").textContent = PB.when(shown.expires_at);
    PB.show("voucher-cancel", shown.status === "issued");
    $("voucher").classList.toggle("closed", shown.status !== "issued");
    PB.show("voucher", true);
  }

  function showVoucher(voucher) {
    shown = voucher;
    renderShown();
    $("voucher-qr").removeAttribute("src");
    PB.api(voucher.qr_svg_url, { blob: true }).then(function (svg) {
      if (qrUrl) URL.revokeObjectURL(qrUrl);
      qrUrl = URL.createObjectURL(svg);
      $("voucher-qr").src = qrUrl;
    }).catch(PB.failed);
    $("voucher").scrollIntoView();
    watchShown();
  }

  function watchShown() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    if (!shown || shown.status !== "issued") return;
    pollTimer = setTimeout(function () {
      PB.api("/v1/vouchers/" + shown.id).then(function (fresh) {
        if (!shown || fresh.id !== shown.id) return;
        var changed = fresh.status !== shown.status;
        shown = fresh;
        renderShown();
        if (changed) refreshAll();
        watchShown();
      }, function () { watchShown(); });
    }, VOUCHER_POLL_MS);
  }

  function issue(event) {
    event.preventDefault();
    var amount = PB.wholeNumber($("issue-amount"));
    var merchant = PB.wholeNumber($("issue-merchant"));
    if (!(amount > 0) || (merchant !== null && !(merchant > 0))) return PB.say(PB.t("error.voucher_amount_invalid"));
    var body = { asset: $("issue-asset").value, amount: amount };
    if (merchant !== null) body.merchant_id = merchant;
    var same = pendingIssue && JSON.stringify(pendingIssue.body) === JSON.stringify(body);
    if (!same) pendingIssue = { body: body, key: PB.newIdempotencyKey() };
    PB.say("");
    PB.api("/v1/vouchers", { method: "POST", body: body, idempotencyKey: pendingIssue.key })
      .then(function (voucher) {
        pendingIssue = null;
        $("issue-form").reset();
        showVoucher(voucher);
        refreshAll();
      }, function (error) {
        if (error.status !== 0 && error.status < 500) pendingIssue = null;  // a definite answer
        PB.failed(error);
      });
  }

  function cancelShown() {
    if (!shown) return;
    PB.api("/v1/vouchers/" + shown.id + "/cancel",
           { method: "POST", idempotencyKey: "cancel-" + shown.id }).then(function (voucher) {
      shown = voucher;
      renderShown();
      PB.say(PB.t("resident.cancelled"), "ok");
      refreshAll();
    }, PB.failed);
  }

  document.addEventListener("pb:language", function () {
    if (!me) return;
    renderBalances();
    renderHistory();
    renderVouchers();
    renderShown();
  });

  $("issue-form").addEventListener("submit", issue);
  $("voucher-cancel").addEventListener("click", cancelShown);
  $("history-asset").addEventListener("change", function () { loadHistory(false).catch(PB.failed); });
  $("history-more").addEventListener("click", function () { loadHistory(true).catch(PB.failed); });
  $("vouchers-more").addEventListener("click", function () { loadVouchers(true).catch(PB.failed); });

  PB.onSignIn(function (identity) {
    me = identity;
    shown = null;
    renderShown();
    refreshAll();
  });
})();
