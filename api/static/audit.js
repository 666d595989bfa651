// Audit page (auditor or admin token): the reconciliation checks, the latest checkpoint,
// budgets, settlements with statements, accounts, entries and vouchers. It only ever GETs.
"use strict";

(function () {
  var PAGE_SIZE = 20;
  var LIST_SIZE_MAX = 200;
  var me = null;
  var report = null;
  var checkpoint = null;          // the latest head, or false when there is none yet
  var budgets = [];
  var merchants = {};
  var settlements = [];
  var account = null;
  var accountRows = [];
  var accountCursor = null;
  var entry = null;
  var voucherRows = [];
  var voucherCursor = null;

  function $(id) { return document.getElementById(id); }

  // A server-given name in words when the dictionary has it (check names, memo words,
  // field names), else as it is.
  function known(prefix, name) {
    var text = PB.t(prefix + name);
    return text === prefix + name ? name : text;
  }

  // An id that opens its account or entry below.
  function idLink(kind, id) {
    var button = PB.element("button", "linkish", PB.format(kind === "account" ? "audit.account_no" : "audit.entry_no", { id: id }));
    button.type = "button";
    button.addEventListener("click", function () {
      if (kind === "account") { $("account-id").value = String(id); openAccount(id); }
      else { $("entry-id").value = String(id); openEntry(id); }
    });
    return button;
  }

  // Reconciliation checks ---------------------------------------------------------------

  function offendingLine(row) {
    var line = PB.element("span", "sub");
    Object.keys(row).forEach(function (key) {
      var value = row[key];
      if (key === "account_id" || key === "entry_id") {
        line.appendChild(idLink(key === "account_id" ? "account" : "entry", value));
      } else {
        var name = known("field.", key);
        line.appendChild(document.createTextNode(" " + name + "：" +
          (typeof value === "number" ? PB.number(value) : JSON.stringify(value)) + " "));
      }
    });
    return line;
  }

  function renderChecks() {
    var list = $("checks");
    list.textContent = "";
    if (!report) return;
    var failed = report.checks.filter(function (check) { return !check.ok; }).length;
    $("checks-summary").textContent = failed ? PB.format("audit.checks_failed", { n: failed })
                                             : PB.format("audit.checks_all_ok", { n: report.checks.length });
    $("checks-summary").className = "big " + (failed ? "bad-text" : "ok-text");
    report.checks.forEach(function (check) {
      var row = PB.element("li", "row");
      row.setAttribute("data-check", check.name);
      row.appendChild(PB.element("span", check.ok ? "ok-text" : "bad-text",
                                 PB.t(check.ok ? "audit.check_ok" : "audit.check_failed")));
      row.appendChild(PB.element("span", "what", known("check.", check.name)));
      (check.offending || []).forEach(function (offending) { row.appendChild(offendingLine(offending)); });
      list.appendChild(row);
    });
  }

  function runChecks() {
    return PB.pending($("checks-run"), function () {
      return PB.api("/v1/audit/reconciliation?realm=" + encodeURIComponent(me.realm)).then(function (answer) {
        report = answer;
        renderChecks();
      });
    });
  }

  // Checkpoint -----------------------------------------------------------------------------

  function renderCheckpoint() {
    if (checkpoint === null) return;
    if (checkpoint === false) {
      $("checkpoint-line").textContent = PB.t("audit.checkpoint_none");
      $("checkpoint-signature").textContent = "";
      return;
    }
    $("checkpoint-line").textContent = PB.format("audit.checkpoint_line", {
      seq: PB.number(checkpoint.seq), size: PB.number(checkpoint.tree_size), time: PB.when(checkpoint.created_at) });
    $("checkpoint-signature").textContent = PB.t(checkpoint.signature_valid ? "audit.signature_ok" : "audit.signature_bad");
    $("checkpoint-signature").className = checkpoint.signature_valid ? "ok-text" : "bad-text";
  }

  function loadCheckpoint() {
    return PB.api("/v1/audit/checkpoints/" + encodeURIComponent(me.realm) + "/latest").then(function (head) {
      checkpoint = head;
      renderCheckpoint();
    }, function (error) {
      if (error.status !== 404) throw error;
      checkpoint = false;
      renderCheckpoint();
    });
  }

  // Budgets and settlements --------------------------------------------------------------

  function renderBudgets() {
    var body = $("budgets").querySelector("tbody");
    body.textContent = "";
    budgets.forEach(function (budget) {
      var row = PB.element("tr");
      row.setAttribute("data-asset", budget.asset);
      row.appendChild(PB.element("th", "", PB.t("asset." + budget.asset)));
      row.lastChild.setAttribute("scope", "row");
      [budget.funded_total, budget.spent_total, budget.other_total, budget.remaining]
        .forEach(function (cell) { row.appendChild(PB.element("td", "", PB.number(cell))); });
      body.appendChild(row);
    });
  }

  function loadBudgets() {
    return PB.api("/v1/budgets?realm=" + encodeURIComponent(me.realm)).then(function (answer) {
      budgets = answer.items;
      renderBudgets();
    });
  }

  function renderSettlements() {
    var list = $("settlements");
    list.textContent = "";
    if (!settlements.length) list.appendChild(PB.element("li", "none", PB.t("audit.settlements_empty")));
    settlements.forEach(function (settlement) {
      var row = PB.element("li", "row");
      row.appendChild(PB.element("span", "what", merchants[settlement.merchant_id] || ("#" + settlement.merchant_id)));
      row.appendChild(idLink("entry", settlement.entry_id));
      list.appendChild(PB.statementRow(row, settlement, "sub"));
    });
  }

  function loadSettlements() {
    var realm = encodeURIComponent(me.realm);
    return Promise.all([
      PB.api("/v1/merchants?realm=" + realm + "&limit=" + LIST_SIZE_MAX),
      PB.api("/v1/settlements?realm=" + realm + "&limit=" + PAGE_SIZE)
    ]).then(function (answers) {
      merchants = {};
      answers[0].items.forEach(function (merchant) { merchants[merchant.id] = merchant.name; });
      settlements = answers[1].items;
      renderSettlements();
    });
  }

  // Accounts and entries -------------------------------------------------------------------

  function postingRow(what, amount, after, extra) {
    var row = PB.element("li", "row");
    var label = PB.element("span", "what");
    what.forEach(function (part) { label.appendChild(typeof part === "string" ? document.createTextNode(part) : part); });
    row.appendChild(label);
    row.appendChild(PB.element("span", amount > 0 ? "amount plus" : "amount minus", PB.signed(amount)));
    var meta = PB.element("span", "meta");
    if (after !== null) meta.appendChild(PB.element("span", "after", PB.t("common.balance_after") + " " + PB.number(after)));
    if (after !== null && extra) meta.appendChild(document.createTextNode(" · "));
    if (extra) meta.appendChild(PB.element("span", "time", extra));
    row.appendChild(meta);
    return row;
  }

  function renderAccount() {
    if (!account) return PB.show("account-view", false);
    $("account-summary").textContent = PB.format("audit.account_no", { id: account.id }) + " · " +
      PB.t("account." + account.kind) + " · " + PB.t("asset." + account.asset) + " · " +
      PB.t("audit.balance") + " " + PB.number(account.balance);
    var list = $("account-postings");
    list.textContent = "";
    if (!accountRows.length) list.appendChild(PB.element("li", "none", PB.t("common.none")));
    accountRows.forEach(function (posting) {
      list.appendChild(postingRow([PB.t("kind." + posting.kind) + " ", idLink("entry", posting.entry_id)],
                                  posting.amount, posting.balance_after, PB.when(posting.created_at)));
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

  function openAccount(id) {
    PB.pending($("account-submit"), function () {
      return PB.api("/v1/accounts/" + id).then(function (found) {
        account = found;
        accountRows = [];
        accountCursor = null;
        return loadPostings(false);
      });
    }).then(function () { $("account-view").scrollIntoView(); },
            function (error) { account = null; renderAccount(); PB.failed(error); });
  }

  function memoText(memo) { return memo ? known("memo.", memo) : ""; }

  function renderEntry() {
    if (!entry) return PB.show("entry-view", false);
    $("entry-summary").textContent = PB.format("audit.entry_no", { id: entry.id }) + " · " + PB.t("kind." + entry.kind) +
      " · " + PB.when(entry.created_at) + (entry.memo ? " · " + memoText(entry.memo) : "");
    var list = $("entry-postings");
    list.textContent = "";
    (entry.postings || []).forEach(function (posting) {
      list.appendChild(postingRow([idLink("account", posting.account_id), " " + PB.t("asset." + posting.asset)],
                                  posting.amount, posting.balance_after, ""));
    });
    PB.show("entry-view", true);
  }

  function openEntry(id) {
    PB.pending($("entry-submit"), function () {
      return PB.api("/v1/entries/" + id).then(function (found) { entry = found; renderEntry(); });
    }).then(function () { $("entry-view").scrollIntoView(); },
            function (error) { entry = null; renderEntry(); PB.failed(error); });
  }

  function lookUp(event, field, open) {
    event.preventDefault();
    var id = PB.wholeNumber($(field));
    if (!(id > 0)) return PB.say(PB.t("error.invalid_request"));
    open(id);
  }

  // Vouchers ------------------------------------------------------------------------------

  function renderVouchers() {
    var list = $("vouchers");
    list.textContent = "";
    if (!voucherRows.length) list.appendChild(PB.element("li", "none", PB.t("common.none")));
    voucherRows.forEach(function (voucher) {
      var row = PB.element("li", "row");
      row.appendChild(PB.element("span", "code", PB.format("audit.voucher_no", { id: voucher.id })));
      row.appendChild(PB.element("span", "amount", PB.number(voucher.amount) + " " + PB.t("asset." + voucher.asset)));
      row.appendChild(PB.element("span", "status status-" + voucher.status, PB.t("status." + voucher.status)));
      row.appendChild(idLink("entry", voucher.hold_entry_id));
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

  function renderWho() {
    if (me) $("who").textContent = PB.t("role." + me.role) + " · " + (me.realm || "");
  }

  document.addEventListener("pb:language", function () {
    if (!me) return;
    renderWho();
    renderChecks();
    renderCheckpoint();
    renderBudgets();
    renderSettlements();
    renderAccount();
    renderEntry();
    renderVouchers();
  });

  $("account-form").addEventListener("submit", function (event) { lookUp(event, "account-id", openAccount); });
  $("entry-form").addEventListener("submit", function (event) { lookUp(event, "entry-id", openEntry); });
  $("checks-run").addEventListener("click", function () { runChecks().catch(PB.failed); });
  $("account-more").addEventListener("click", function () { loadPostings(true).catch(PB.failed); });
  $("vouchers-more").addEventListener("click", function () { loadVouchers(true).catch(PB.failed); });

  PB.onSignIn(function (identity) {
    me = identity;
    if (!me.realm) {   // an all-realms admin: the realm comes from the address, ?realm=430104
      me.realm = new URLSearchParams(location.search).get("realm");
    }
    renderWho();
    if (!me.realm) return PB.say("/app/audit?realm=430104");
    Promise.all([runChecks(), loadCheckpoint(), loadBudgets(), loadSettlements(), loadVouchers(false)])
      .catch(PB.failed);
  });
})();
