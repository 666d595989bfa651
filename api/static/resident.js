// Resident page: balances, history in plain words, the rewards shop, vouchers (make one
// for a merchant picked by name, show it as a QR, print it, cancel it).
"use strict";

(function () {
  var PAGE_SIZE = 10;
  var LIST_SIZE_MAX = 200;        // merchants and rewards offered on the page
  var ASSET_ORDER = ["civic", "agri"];   // civic points first: what most residents hold
  var VOUCHER_POLL_MS = 3000;     // while a shown voucher is unused, watch for its redemption
  var ANY_AGRI_SHOP = "kind:agri_shop";
  var me = null;
  var accounts = [];
  var merchants = [];             // active merchants of the realm, for the picker and names
  var rewards = [];
  var historyRows = [];
  var historyCursor = null;
  var voucherRows = [];
  var voucherCursor = null;
  var shown = null;               // the voucher on screen
  var qrUrl = null;
  var pollTimer = null;
  var pendingIssue = null;        // {body, key}: a retry of the same request reuses its key

  function $(id) { return document.getElementById(id); }

  function merchantName(id) {
    for (var i = 0; i < merchants.length; i++) if (merchants[i].id === id) return merchants[i].name;
    return "#" + id;
  }

  function assetName(asset) { return PB.t("asset." + asset); }

  // Balances ------------------------------------------------------------------------------

  function renderBalances() {
    var list = $("balances");
    list.textContent = "";
    accounts.forEach(function (account) {
      var row = PB.element("li", "balance");
      row.setAttribute("data-asset", account.asset);
      row.appendChild(PB.element("span", "label", assetName(account.asset)));
      row.appendChild(PB.element("span", "points", PB.number(account.balance)));
      list.appendChild(row);
    });
    var select = $("history-asset");
    var chosen = select.value;
    select.textContent = "";
    accounts.forEach(function (account) {
      var option = PB.element("option", "", assetName(account.asset));
      option.value = account.asset;
      select.appendChild(option);
    });
    if (chosen) select.value = chosen;
  }

  function loadBalances() {
    return PB.api("/v1/residents/" + me.resident_id).then(function (resident) {
      accounts = (resident.accounts || []).slice().sort(function (a, b) {
        return ASSET_ORDER.indexOf(a.asset) - ASSET_ORDER.indexOf(b.asset);
      });
      $("who").textContent = resident.display_name || resident.code;
      renderBalances();
    });
  }

  // History in plain words -----------------------------------------------------------------

  function spentWords(item) {
    var values = { merchant: item.merchant_name || "", spent: PB.number(item.spent) };
    return item.merchant_name ? PB.format("history.spent_at", values) : PB.format("history.spent", values);
  }

  function historyWhat(item) {
    if (item.what === "earned") {
      return item.activity_title ? PB.format("history.earned_at", { title: item.activity_title }) : PB.t("history.earned");
    }
    if (item.what === "spent") {
      return PB.format(item.merchant_name ? "history.spent_returned" : "history.returned",
                       { merchant: item.merchant_name || "", spent: PB.number(item.spent) });
    }
    if (item.what === "voucher_made") return PB.t("history.voucher_made");
    if (item.reservation_id) return PB.t("history." + item.what) + "「" + item.reservation_title + "」";
    return PB.t("history." + item.what);
  }

  // Under a voucher made: what became of it.
  function historySub(item) {
    if (item.reservation_id) {     // a priority booking: with whom, when, how it went
      return [item.merchant_name, PB.when(item.reservation_starts_at),
              PB.t("resources.status_" + item.reservation_status)].filter(Boolean).join(" · ");
    }
    if (item.what !== "voucher_made") return "";
    if (item.spent !== null && item.spent !== undefined) {
      return spentWords(item) + (item.returned > 0 ? "，" + PB.t("history.returned") + " " + PB.number(item.returned) : "");
    }
    if (item.voucher_status === "issued") return PB.t("history.waiting");
    return item.voucher_status ? PB.t("status." + item.voucher_status) : "";
  }

  function renderHistory() {
    var list = $("history");
    list.textContent = "";
    if (!historyRows.length) list.appendChild(PB.element("li", "none", PB.t("history.empty")));
    historyRows.forEach(function (item) {
      var row = PB.element("li", "row");
      row.setAttribute("data-what", item.what);
      row.appendChild(PB.element("span", "what", historyWhat(item)));
      row.appendChild(PB.element("span", item.amount > 0 ? "amount plus" : "amount minus", PB.signed(item.amount)));
      var sub = historySub(item);
      if (sub) row.appendChild(PB.element("span", "sub", sub));
      var meta = PB.element("span", "meta");
      meta.appendChild(PB.element("span", "after", PB.t("common.balance_after") + " " + PB.number(item.balance_after)));
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(PB.element("span", "time", PB.when(item.created_at)));
      row.appendChild(meta);
      list.appendChild(row);
    });
    PB.show("history-more", !!historyCursor);
  }

  function loadHistory(more) {
    var asset = $("history-asset").value;
    if (!asset) { historyRows = []; historyCursor = null; return renderHistory(); }
    var path = "/v1/residents/" + me.resident_id + "/history?asset=" + asset + "&limit=" + PAGE_SIZE +
      (more && historyCursor ? "&cursor=" + encodeURIComponent(historyCursor) : "");
    return PB.api(path).then(function (page) {
      historyRows = more ? historyRows.concat(page.items) : page.items;
      historyCursor = page.next_cursor;
      renderHistory();
    });
  }

  // Rewards shop ----------------------------------------------------------------------------

  function renderShop() {
    var list = $("shop");
    list.textContent = "";
    if (!rewards.length) list.appendChild(PB.element("li", "none", PB.t("shop.empty")));
    rewards.forEach(function (item) {
      var row = PB.element("li", "row");
      row.setAttribute("data-reward", item.id);
      row.appendChild(PB.element("span", "name", item.name));
      row.appendChild(PB.element("span", "what", item.merchant_name || merchantName(item.merchant_id)));
      row.appendChild(PB.element("span", "amount", PB.format("shop.price",
        { price: PB.number(item.price), asset: assetName(item.asset) })));
      row.appendChild(PB.element("span", "after", item.unlimited ? PB.t("shop.unlimited")
                                                                 : PB.format("shop.stock", { n: PB.number(item.stock) })));
      var button = PB.element("button", "small", PB.t("shop.take"));
      button.type = "button";
      button.setAttribute("aria-label", PB.t("shop.take") + " " + item.name);
      button.addEventListener("click", function () { takeReward(item, button); });
      row.appendChild(button);
      list.appendChild(row);
    });
  }

  function loadShop() {
    return PB.api("/v1/rewards?realm=" + encodeURIComponent(me.realm) + "&limit=" + LIST_SIZE_MAX)
      .then(function (page) { rewards = page.items; renderShop(); });
  }

  function takeReward(item, button) {
    PB.pending(button, function () {
      return PB.api("/v1/rewards/" + item.id + "/redeem",
                    { method: "POST", body: {}, idempotencyKey: PB.newIdempotencyKey() });
    }).then(function (taken) {
      showVoucher(taken.voucher, PB.format("shop.taken", { name: item.name }));
      refreshAll();
    }, PB.failed);
  }

  // Making a voucher ----------------------------------------------------------------------

  function renderMerchantPicker() {
    var select = $("issue-merchant");
    var chosen = select.value;
    var agri = $("issue-asset").value === "agri";
    select.textContent = "";
    var any = PB.element("option", "", PB.t(agri ? "resident.merchant_any_agri" : "resident.merchant_any"));
    any.value = agri ? ANY_AGRI_SHOP : "";
    select.appendChild(any);
    merchants.forEach(function (merchant) {
      if (agri && merchant.kind !== "agri_shop") return;
      var option = PB.element("option", "", merchant.name);
      option.value = String(merchant.id);
      select.appendChild(option);
    });
    select.value = chosen;
    if (select.selectedIndex < 0) select.selectedIndex = 0;
  }

  function loadMerchants() {
    return PB.api("/v1/merchants?realm=" + encodeURIComponent(me.realm) + "&status=active&limit=" + LIST_SIZE_MAX)
      .then(function (page) { merchants = page.items; renderMerchantPicker(); });
  }

  function issue(event) {
    event.preventDefault();
    var amount = PB.wholeNumber($("issue-amount"));
    if (!(amount > 0)) return PB.say(PB.t("error.voucher_amount_invalid"));
    var body = { asset: $("issue-asset").value, amount: amount };
    var where = $("issue-merchant").value;
    if (where === ANY_AGRI_SHOP) body.merchant_kind = "agri_shop";
    else if (where) body.merchant_id = parseInt(where, 10);
    var same = pendingIssue && JSON.stringify(pendingIssue.body) === JSON.stringify(body);
    if (!same) pendingIssue = { body: body, key: PB.newIdempotencyKey() };
    PB.pending($("issue-submit"), function () {
      return PB.api("/v1/vouchers", { method: "POST", body: body, idempotencyKey: pendingIssue.key });
    }).then(function (voucher) {
      pendingIssue = null;
      $("issue-form").reset();
      renderMerchantPicker();
      showVoucher(voucher);
      refreshAll();
    }, function (error) {
      if (error.status !== 0 && error.status < 500) pendingIssue = null;  // a definite answer
      PB.failed(error);
    });
  }

  // Vouchers ------------------------------------------------------------------------------

  function spentReturned(voucher) {
    if (voucher.captured_amount === null || voucher.captured_amount === undefined) return "";
    var returned = voucher.amount - voucher.captured_amount;
    return PB.format(returned > 0 ? "resident.spent_returned" : "resident.spent_all",
                     { spent: PB.number(voucher.captured_amount), returned: PB.number(returned) });
  }

  function renderVouchers() {
    var list = $("vouchers");
    list.textContent = "";
    if (!voucherRows.length) list.appendChild(PB.element("li", "none", PB.t("resident.vouchers_empty")));
    voucherRows.forEach(function (voucher) {
      var row = PB.element("li", "row");
      row.setAttribute("data-voucher", voucher.id);
      row.appendChild(PB.element("span", "code", voucher.short_code));
      row.appendChild(PB.element("span", "amount", PB.number(voucher.amount) + " " + assetName(voucher.asset)));
      row.appendChild(PB.element("span", "status status-" + voucher.status, PB.t("status." + voucher.status)));
      var spent = spentReturned(voucher);
      if (spent) row.appendChild(PB.element("span", "sub", spent));
      if (voucher.status === "issued") {
        var button = PB.element("button", "small", PB.t("resident.show"));
        button.type = "button";
        button.setAttribute("aria-label", PB.t("resident.show") + " " + voucher.short_code);
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
    return Promise.all([loadBalances().then(function () { return loadHistory(false); }), loadVouchers(false),
                        loadShop()]).catch(PB.failed);
  }

  function whereText(voucher) {
    if (voucher.merchant_id !== null && voucher.merchant_id !== undefined) return merchantName(voucher.merchant_id);
    return PB.t(voucher.merchant_kind === "agri_shop" ? "resident.merchant_any_agri" : "resident.merchant_any");
  }

  function renderShown() {
    if (!shown) return PB.show("voucher", false);
    $("voucher-short").textContent = shown.short_code;
    $("voucher-amount").textContent = PB.number(shown.amount);
    $("voucher-asset").textContent = assetName(shown.asset);
    $("voucher-qr").alt = PB.format("resident.qr_alt", { amount: PB.number(shown.amount), asset: assetName(shown.asset) });
    $("voucher-status").textContent = PB.t("status." + shown.status);
    $("voucher-status").className = "status status-" + shown.status;
    $("voucher-spent").textContent = spentReturned(shown);
    PB.show("voucher-spent", !!spentReturned(shown));
    $("voucher-where").textContent = PB.t("resident.merchant") + "：" + whereText(shown);
    $("voucher-expires").textContent = PB.format("resident.expires_words", { date: PB.lastDay(shown.expires_at) });
    PB.show("voucher-cancel", shown.status === "issued");
    PB.show("voucher-print", shown.status === "issued");
    $("voucher").classList.toggle("closed", shown.status !== "issued");
    PB.show("voucher", true);
  }

  function showVoucher(voucher, note) {
    shown = voucher;
    $("voucher-note").textContent = note || "";
    PB.show("voucher-note", !!note);
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

  function cancelShown() {
    if (!shown) return;
    PB.pending($("voucher-cancel"), function () {
      return PB.api("/v1/vouchers/" + shown.id + "/cancel", { method: "POST", idempotencyKey: "cancel-" + shown.id });
    }).then(function (voucher) {
      shown = voucher;
      $("voucher-note").textContent = "";
      PB.show("voucher-note", false);
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
    renderShop();
    renderMerchantPicker();
    renderShown();
  });

  $("issue-form").addEventListener("submit", issue);
  $("issue-asset").addEventListener("change", renderMerchantPicker);
  $("voucher-cancel").addEventListener("click", cancelShown);
  $("voucher-print").addEventListener("click", function () {
    if (shown) PB.download(shown.pdf_url, "voucher-" + shown.id + ".pdf", $("voucher-print"));
  });
  $("history-asset").addEventListener("change", function () { loadHistory(false).catch(PB.failed); });
  $("history-more").addEventListener("click", function () { loadHistory(true).catch(PB.failed); });
  $("vouchers-more").addEventListener("click", function () { loadVouchers(true).catch(PB.failed); });

  PB.onSignIn(function (identity) {
    me = identity;
    shown = null;
    renderShown();
    renderMerchantPicker();
    loadMerchants().catch(PB.failed).then(refreshAll);
  });
})();
