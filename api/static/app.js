// Shared by every page: language, the stored token, calls to the JSON API, messages.
// Plain script (no modules, no build step) so that old phone browsers run it.
"use strict";

var PB = (function () {
  var LANG_KEY = "pb.lang";
  var TOKEN_KEY_PREFIX = "pb.token.";        // one token per page kind (resident, merchant, audit)
  var IDEMPOTENCY_KEY_BYTES = 16;
  var dictionary = null;
  var language = localStorage.getItem(LANG_KEY) || "zh";
  var page = document.body.getAttribute("data-page");
  var pageRoles = { resident: ["resident"], merchant: ["merchant"], audit: ["auditor", "admin"],
                    activities: ["resident"], organizer: ["organizer", "admin"], services: ["resident"],
                    dispatch: ["organizer", "admin"], resources: ["resident"],
                    desk_resources: ["organizer", "admin"], provider: ["merchant"], dashboard: ["admin", "auditor"] };
  // pages that share another page's sign-in
  var tokenPages = { activities: "resident", services: "resident", dispatch: "organizer", resources: "resident",
                     desk_resources: "organizer", provider: "merchant", dashboard: "audit" };
  // Where a claimed enrolment code leads, by role: [token page, address].
  var roleHomes = { resident: ["resident", "/app/activities"], organizer: ["organizer", "/app/organizer"],
                    admin: ["organizer", "/app/organizer"], merchant: ["merchant", "/app/merchant"],
                    auditor: ["audit", "/app/audit"] };
  var whenSignedIn = null;
  var alsoSignedIn = [];         // shared parts of every page (the inbox), after the page's own
  var whenReady = [];            // run once the dictionary is loaded (pages without sign-in)
  var timeZone = null;
  var DEFAULT_TIME_ZONE = "Asia/Shanghai";
  var inFlight = 0;                          // API calls under way: the loading line shows

  function t(key) {
    var table = dictionary && dictionary[language];
    if (table && key in table) return table[key];
    var fallback = dictionary && dictionary.zh;
    return fallback && key in fallback ? fallback[key] : key;
  }

  function applyLanguage() {
    document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
    var nodes = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = t(nodes[i].getAttribute("data-i18n"));
    document.dispatchEvent(new Event("pb:language"));
  }

  function toggleLanguage() {
    language = language === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, language);
    applyLanguage();
  }

  function tokenKey() { return TOKEN_KEY_PREFIX + (tokenPages[page] || page); }
  function token() { return localStorage.getItem(tokenKey()); }

  function show(id, visible) { document.getElementById(id).hidden = !visible; }

  function say(text, kind) {
    var box = document.getElementById("message");
    box.textContent = text || "";
    box.className = "message " + (kind || "error");
    box.hidden = !text;
  }

  // `t(key)` with {name} filled in from `values`.
  function format(key, values) {
    return t(key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }

  // A problem+json answer as a short message in the page's language (never the English
  // detail on the Chinese page: the stable code is enough to look it up).
  function problemText(problem) {
    var code = problem && problem.code;
    var key = "error." + code;
    if (code && dictionary && (key in dictionary.zh)) return t(key);
    var detail = language === "en" && problem && problem.detail ? ": " + problem.detail : "";
    return t("error.unknown") + (code ? "（" + code + "）" : "") + detail;
  }

  function loading(change) {
    inFlight += change;
    var line = document.getElementById("busy");
    if (line) line.hidden = inFlight <= 0;
  }

  function ApiError(status, problem) {
    this.status = status;
    this.problem = problem;
    this.message = problemText(problem);
  }

  function newIdempotencyKey() {
    var bytes = new Uint8Array(IDEMPOTENCY_KEY_BYTES);
    crypto.getRandomValues(bytes);   // works on plain http too, unlike crypto.randomUUID
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += ("0" + bytes[i].toString(16)).slice(-2);
    return "web-" + hex;
  }

  // Calls the API with the stored token; resolves to parsed JSON (or a Blob with
  // options.blob); rejects with an ApiError carrying the problem's code.
  function api(path, options) {
    options = options || {};
    var headers = { "Authorization": "Bearer " + token() };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
    loading(1);
    return fetch(path, {
      method: options.method || "GET", headers: headers, credentials: "omit", cache: "no-store",
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined
    }).catch(function () {
      throw new ApiError(0, { code: "network" });
    }).then(function (response) {
      if (response.ok) return options.blob ? response.blob() : response.json();
      return response.json().catch(function () { return { code: "http_" + response.status }; })
        .then(function (problem) {
          if (response.status === 401) signOut(false);
          throw new ApiError(response.status, problem);
        });
    }).then(function (answer) { loading(-1); return answer; },
            function (error) { loading(-1); throw error; });
  }

  // Run `work` (returning a promise) with `button` disabled until it settles, the old
  // message cleared first; a second press meanwhile does nothing.
  function pending(button, work) {
    if (button && button.disabled) return Promise.resolve();
    say("");
    if (button) button.disabled = true;
    return Promise.resolve().then(work).then(function (value) {
      if (button) button.disabled = false;
      return value;
    }, function (error) {
      if (button) button.disabled = false;
      throw error;
    });
  }

  // A file the API serves to this token (a PDF, a CSV): fetched with the token, then
  // opened or saved from a blob: address (a plain link would carry no token).
  function download(path, filename, button) {
    return pending(button, function () {
      return api(path, { blob: true }).then(function (blob) {
        var url = URL.createObjectURL(blob);
        var link = document.createElement("a");
        link.href = url;
        link.download = filename;
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      });
    }).catch(failed);
  }

  function failed(error) {
    if (error && error.problem && error.problem.code === "network") return say(t("common.network"));
    say(error && error.message ? error.message : t("error.unknown"));
  }

  function signOut(clearMessage) {
    localStorage.removeItem(tokenKey());
    show("signed-in", false);
    show("signout", false);
    show("signin", true);
    ["inbox", "inbox-panel"].forEach(function (id) {
      var part = document.getElementById(id);
      if (part) part.hidden = true;
    });
    if (clearMessage !== false) say("");
  }

  function signedIn(identity) {
    show("signin", false);
    show("signout", true);
    show("signed-in", true);
    if (whenSignedIn) whenSignedIn(identity);
    alsoSignedIn.forEach(function (callback) { callback(identity); });
  }

  // Times are shown in the realm's time zone (Asia/Shanghai unless the realm says otherwise).
  function realmTimeZone(realm) {
    if (!realm) return Promise.resolve();
    return api("/v1/realms/" + encodeURIComponent(realm)).then(function (found) {
      timeZone = found.timezone || null;
    }, function () { /* the phone's own time zone then */ });
  }

  function checkToken() {
    say(t("signin.checking"), "info");
    return api("/v1/whoami").then(function (identity) {
      if (pageRoles[page].indexOf(identity.role) < 0) {
        signOut(false);
        say(t("signin.wrong_role"));
        return;
      }
      say("");
      return realmTimeZone(identity.realm).then(function () { signedIn(identity); });
    }, function (error) {
      if (error.status !== 401) return failed(error);
      say(t("error.unauthorized"));
    });
  }

  // Trade an enrolment code (from a card) for a device token, kept where the role's
  // page looks for it; resolves to [role, address of the role's page].
  function claim(code) {
    return fetch("/v1/enrolments/claim", {
      method: "POST", credentials: "omit", cache: "no-store", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: code, device_label: navigator.userAgent.slice(0, 100) })
    }).catch(function () {
      throw new ApiError(0, { code: "network" });
    }).then(function (response) {
      return response.json().catch(function () { return { code: "http_" + response.status }; })
        .then(function (body) {
          if (!response.ok) throw new ApiError(response.status, body);
          var home = roleHomes[body.role];
          localStorage.setItem(TOKEN_KEY_PREFIX + home[0], body.token);
          return [body.role, home[1]];
        });
    });
  }

  function setUpSignIn() {
    if (!pageRoles[page]) return;
    // "退出" asks first: the token has to be pasted again afterwards.
    document.getElementById("signout").addEventListener("click", function () {
      show("signout-confirm", true);
      document.getElementById("signout-yes").focus();
    });
    document.getElementById("signout-yes").addEventListener("click", function () {
      show("signout-confirm", false);
      signOut();
    });
    document.getElementById("signout-no").addEventListener("click", function () {
      show("signout-confirm", false);
    });
    document.getElementById("signin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var field = document.getElementById("token");
      var value = field.value.trim();
      if (!value) return;
      field.value = "";
      if (value.indexOf("pb_") === 0) {            // an administrator's token, pasted
        localStorage.setItem(tokenKey(), value);
        return checkToken();
      }
      say(t("signin.checking"), "info");
      claim(value).then(function (claimed) {
        if (pageRoles[page].indexOf(claimed[0]) < 0) return location.assign(claimed[1]);
        checkToken();
      }, failed);
    });
    if (token()) checkToken(); else signOut();
  }

  function start() {
    document.getElementById("lang").addEventListener("click", toggleLanguage);
    fetch("/app/i18n.json").then(function (r) { return r.json(); }).then(function (loaded) {
      dictionary = loaded;
      if (language !== "zh") applyLanguage();
    }).catch(function () { /* the page stays in Chinese, rendered by the server */ })
      .then(function () {
        whenReady.forEach(function (callback) { callback(); });
        setUpSignIn();
      });
  }

  // Small DOM helpers for the page scripts.
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    var moment = new Date(iso);
    if (isNaN(moment.getTime())) return iso;
    var options = { hourCycle: "h23" };     // not hour12:false, which can print 24:00
    if (timeZone) options.timeZone = timeZone;
    try {
      return moment.toLocaleString(language === "zh" ? "zh-CN" : "en-GB", options);
    } catch (unknownZone) {
      return moment.toLocaleString(language === "zh" ? "zh-CN" : "en-GB", { hourCycle: "h23" });
    }
  }

  // A whole number with thousands separators (1,000,000).
  function number(value) {
    if (value === null || value === undefined || value === "") return "";
    return Number(value).toLocaleString(language === "zh" ? "zh-CN" : "en-GB");
  }

  function signed(amount) { return (amount > 0 ? "+" : amount < 0 ? "−" : "") + number(Math.abs(amount)); }

  // The parts of a moment in the realm's time zone: {year, month, day, hour, minute}.
  function parts(moment) {
    var options = { year: "numeric", month: "numeric", day: "numeric", hour: "numeric",
                    minute: "numeric", hourCycle: "h23" };
    if (timeZone) options.timeZone = timeZone;
    var found = {};
    try {
      new Intl.DateTimeFormat("en-GB", options).formatToParts(moment).forEach(function (part) {
        if (part.type !== "literal") found[part.type] = parseInt(part.value, 10);
      });
    } catch (unknownZone) {
      found = { year: moment.getFullYear(), month: moment.getMonth() + 1, day: moment.getDate(),
                hour: moment.getHours(), minute: moment.getMinutes() };
    }
    return found;
  }

  // The last moment something is good for, in words: an expiry at local midnight is the
  // end of the day before ("2026年12月30日"), otherwise the day and the time.
  function lastDay(iso) {
    var end = new Date(iso);
    if (isNaN(end.getTime())) return iso || "";
    var at = parts(end);
    var midnight = at.hour === 0 && at.minute === 0;
    var last = midnight ? parts(new Date(end.getTime() - 1000)) : at;
    var time = midnight ? "" : " " + ("0" + at.hour).slice(-2) + ":" + ("0" + at.minute).slice(-2);
    return dayWords(last) + time;
  }

  function dayWords(at) {
    if (language === "zh") return at.year + "年" + at.month + "月" + at.day + "日";
    return at.year + "-" + ("0" + at.month).slice(-2) + "-" + ("0" + at.day).slice(-2);
  }

  // "2026-11-30": the day a moment falls on in the realm's time zone (for an API's ?day=).
  function isoDay(moment) {
    var at = parts(moment);
    return at.year + "-" + ("0" + at.month).slice(-2) + "-" + ("0" + at.day).slice(-2);
  }

  // The day a moment falls on, in the realm's time zone.
  function day(iso) {
    var moment = new Date(iso);
    return isNaN(moment.getTime()) ? (iso || "") : dayWords(parts(moment));
  }

  // "2026/11/30 19:00 – 21:00" (an activity's times: minutes are enough).
  function timeRange(starts, ends) {
    var minutes = /:[0-9]{2}$/;
    return when(starts).replace(minutes, "") + " – " + when(ends).split(" ").pop().replace(minutes, "");
  }

  // A whole positive number from a form field, or null when the field is empty.
  function wholeNumber(field) {
    var text = field.value.trim();
    if (text === "") return null;
    return /^[0-9]+$/.test(text) ? parseInt(text, 10) : NaN;
  }

  // A button that fetches a file with the token and saves it.
  function downloadButton(label, path, filename) {
    var button = element("button", "small", label);
    button.type = "button";
    button.addEventListener("click", function () { download(path, filename, button); });
    return button;
  }

  // A settlement statement as words ("2026年11月1日 至 2026年11月30日：30 积分 = 3.00 元")
  // and its PDF and CSV buttons, appended to `row`.
  function statementRow(row, settlement, className) {
    row.setAttribute("data-settlement", settlement.id);
    row.appendChild(element("span", className, format("merchant.statement_line", {
      start: day(settlement.period_start), end: lastDay(settlement.period_end),
      points: number(settlement.points), yuan: settlement.amount_yuan })));
    row.appendChild(element("span", "status", t("settlement." + settlement.status)));
    var name = "statement-" + settlement.id;
    row.appendChild(downloadButton(t("common.download_pdf"), settlement.links.pdf, name + ".pdf"));
    row.appendChild(downloadButton(t("common.download_csv"), settlement.links.csv, name + ".csv"));
    return row;
  }

  // The realm's wall time (a date and a time field) as an instant, in ISO 8601.
  function zonedIso(day, time) {
    var guess = Date.parse(day + "T" + time + ":00Z");
    var parts = new Intl.DateTimeFormat("en-US", { timeZone: timeZone || DEFAULT_TIME_ZONE, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(new Date(guess));
    var value = {};
    parts.forEach(function (part) { value[part.type] = parseInt(part.value, 10); });
    var shown = Date.UTC(value.year, value.month - 1, value.day, value.hour, value.minute, value.second);
    return new Date(guess - (shown - guess)).toISOString();
  }

  function realmToday() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: timeZone || DEFAULT_TIME_ZONE, year: "numeric",
                                              month: "2-digit", day: "2-digit" }).format(new Date()).slice(0, 10);
  }

  // Deferred page scripts run before DOMContentLoaded, so they register onSignIn first.
  if (document.readyState === "complete") start();
  else document.addEventListener("DOMContentLoaded", start);

  return {
    t: t, format: format, refusal: function (code) { return problemText({ code: code }); }, api: api, say: say, failed: failed, show: show, element: element, when: when,
    timeRange: timeRange, signed: signed, number: number, lastDay: lastDay, day: day, isoDay: isoDay,
    wholeNumber: wholeNumber,
    newIdempotencyKey: newIdempotencyKey, pending: pending, download: download,
    statementRow: statementRow, claim: claim, zonedIso: zonedIso, realmToday: realmToday,
    onSignIn: function (callback) { whenSignedIn = callback; },
    alsoOnSignIn: function (callback) { alsoSignedIn.push(callback); },
    onReady: function (callback) { whenReady.push(callback); },
    language: function () { return language; }
  };
})();
