// Audit page (auditor or admin token): read-only views of budgets, accounts, entries, vouchers.
// It only ever GETs.
"use strict";

(function () {
  var PAGE_SIZE = 20;
  var me = null;
  var budgets = [];
  var account = null;
  var accountRows = [];
  var accountCursor = null;
  var entry = null;
  var voucherRows = [];
  var voucherCursor = null;

  function $(id) { return document.getElementById(id); }

  function renderBudgets() {
    var body = $("budgets").querySelector("tbody");
    body.textContent = "";
    budgets.forEach(function (budget) {
      var row = PB.element("tr");
      row.setAttribute("data-asset", budget.asset);
      [PB.t("asset." + budget.asset), budget.funded_total, budget.spent_total, budget.other_total, budget.remaining]
        .forEach(function (cell) { row.appendChild(PB.element("td", "", cell)); });
      body.appendChild(row);
    });
  }

  function loadBudgets() {
    return PB.api("/v1/budgets?realm=" + encodeURIComponent(me.realm)).then(function (answer) {
      budgets = answer.items;
      renderBudgets();
    });
  }

  function postingRow(kind, amount, after, extra) {
    var row = PB.element("li", "row");
    row.appendChild(PB.element("span", "what", kind));
    row.appendChild(PB.element("span", amount > 0 ? "amount plus" : "amount minus", PB.signed(amount)));
    row.appendChild(PB.element("span", "after", "= " + after));
    if (extra) row.appendChild(PB.element("span", "time", extra));
    return row;
  }

  function renderAccount() {
    if (!account) return PB.show("account-view", false);
    $("account-summary").textContent = "#" + account.id + " · " + account.kind + " · " +
      PB.t("asset." + account.asset) + " · " + PB.t("audit.balance") + " " + account.balance;
    var list = $("account-postings");
    list.textContent = "";
    if (!accountRows.length) list.appendChild(PB.element("li", "none", PB.t("common.none")));
    accountRows.forEach(function (posting) {
      list.appendChild(postingRow(PB.t("kind." + posting.kind) + " #" + posting.entry_id, posting.amount,
                                  posting.balance_after, PB.when(posting.created_at)));
    });
    PB.show("account-more", !!accountCursor);
    PB.show("account-view", true);
  }

  function loadPostings(more) {
    var path = "/v1/accounts/" + account.id + "/postings?limit=" + PAGE_SIZE +
      (more && accountCursor ? "&cursor=" + encodeURIComponent(accountCursor) : "");
    return PB.api(path).then(function (page) {
      accountRows = more ? accountRows.concat(page.items) : page.items;
      accountCursor = page.next_cursor;
      renderAccount();
    });
  }

  function lookUpAccount(event) {
    event.preventDefault();
    var id = PB.wholeNumber($("account-id"));
    if (!(id > 0)) return;
    PB.say("");
    PB.api("/v1/accounts/" + id).then(function (found) {
      account = found;
      accountRows = [];
      accountCursor = null;
      return loadPostings(false);
    }).catch(function (error) { account = null; renderAccount(); PB.failed(error); });
  }

  function renderEntry() {
    if (!entry) return PB.show("entry-view", false);
    $("entry-summary").textContent = "#" + entry.id + " · " + PB.t("kind." + entry.kind) + " · " +
      PB.when(entry.created_at) + (entry.memo ? " · " + entry.memo : "");
    var list = $("entry-postings");
    list.textContent = "";
    (entry.postings || []).forEach(function (posting) {
      list.appendChild(postingRow("#" + posting.account_id + " " + PB.t("asset." + posting.asset),
                                  posting.amount, posting.balance_after, ""));
    });
    PB.show("entry-view", true);
  }

  function lookUpEntry(event) {
    event.preventDefault();
    var id = PB.wholeNumber($("entry-id"));
    if (!(id > 0)) return;
    PB.say("");
    PB.api("/v1/entries/" + id).then(function (found) { entry = found; renderEntry(); },
      function (error) { entry = null; renderEntry(); PB.failed(error); });
  }

  function renderVouchers() {
    var list = $("vouchers");
    list.textContent = "";
    if (!voucherRows.length) list.appendChild(PB.element("li", "none", PB.t("common.none")));
    voucherRows.forEach(function (voucher) {
      var row = PB.element("li", "row");
      row.appendChild(PB.element("span", "code", "#" + voucher.id));  // the code is the resident's alone
      row.appendChild(PB.element("span", "amount", voucher.amount + " " + PB.t("asset." + voucher.asset)));
      row.appendChild(PB.element("span", "status status-" + voucher.status, PB.t("status." + voucher.status)));
      row.appendChild(PB.element("span", "time", PB.when(voucher.created_at)));
      list.appendChild(row);
    });
    PB.show("vouchers-more", !!voucherCursor);
  }

  function loadVouchers(more) {
    var path = "/v1/vouchers?realm=" + encodeURIComponent(me.realm) + "&limit=" + PAGE_SIZE +
      (more && voucherCursor ? "&cursor=" + encodeURIComponent(voucherCursor) : "");
    return PB.api(path).then(function (page) {
      voucherRows = more ? voucherRows.concat(page.items) : page.items;
      voucherCursor = page.next_cursor;
      renderVouchers();
    });
  }

  document.addEventListener("pb:language", function () {
    if (!me) return;
    renderBudgets();
    renderAccount();
    renderEntry();
    renderVouchers();
  });

  $("account-form").addEventListener("submit", lookUpAccount);
  $("entry-form").addEventListener("submit", lookUpEntry);
  $("account-more").addEventListener("click", function () { loadPostings(true).catch(PB.failed); });
  $("vouchers-more").addEventListener("click", function () { loadVouchers(true).catch(PB.failed); });

  PB.onSignIn(function (identity) {
    me = identity;
    if (!me.realm) {   // an all-realms admin: the realm comes from the address, ?realm=430104
      me.realm = new URLSearchParams(location.search).get("realm");
    }
    $("who").textContent = identity.role + " · " + (me.realm || "");
    if (!me.realm) return PB.say("/app/audit?realm=430104");
    Promise.all([loadBudgets(), loadVouchers(false)]).catch(PB.failed);
  });
})();
