// Shared by every signed-in page: the inbox button with its unread badge in the header,
// and the list of notifications (newest first, mark read, mark all read). Plain script.
"use strict";

(function () {
  var POLL_MS = 60000;            // the badge refreshes this often while the page is open
  var PAGE_SIZE = 20;
  var cursor = null;
  var timer = null;

  function $(id) { return document.getElementById(id); }

  function badge(unread) {
    var shown = $("inbox-badge");
    shown.textContent = unread.more ? "99+" : String(unread.unread);
    shown.hidden = unread.unread === 0;
    $("inbox").setAttribute("aria-label", PB.t("inbox.open") + (unread.unread ? " (" + shown.textContent +
                                                                 " " + PB.t("inbox.unread") + ")" : ""));
  }

  function refresh() {
    return PB.api("/v1/notifications/unread").then(function (unread) {
      $("inbox").hidden = false;
      badge(unread);
    }, function () { /* no inbox for this token (an all-realms admin): no button */ });
  }

  function line(item) {
    var row = PB.element("li", "row" + (item.read_at ? "" : " unread"));
    row.setAttribute("data-notification", item.id);
    row.appendChild(PB.element("span", "what", PB.language() === "en" ? item.title_en : item.title));
    row.appendChild(PB.element("span", "when", PB.when(item.created_at)));
    if (!item.read_at) {
      var button = PB.element("button", "small", PB.t("inbox.mark_read"));
      button.type = "button";
      button.addEventListener("click", function () {
        PB.pending(button, function () {
          return PB.api("/v1/notifications/" + item.id + "/read", { method: "POST" }).then(function () {
            row.classList.remove("unread");
            button.remove();
            return refresh();
          });
        });
      });
      row.appendChild(button);
    }
    return row;
  }

  function load(more) {
    var path = "/v1/notifications?limit=" + PAGE_SIZE + (more && cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    return PB.api(path).then(function (page) {
      var list = $("inbox-list");
      if (!more) list.textContent = "";
      page.items.forEach(function (item) { list.appendChild(line(item)); });
      cursor = page.next_cursor;
      $("inbox-more").hidden = !cursor;
      $("inbox-empty").hidden = list.children.length > 0;
      badge({ unread: page.unread, more: page.unread > 99 });
    }, PB.failed);
  }

  function toggle() {
    var panel = $("inbox-panel");
    panel.hidden = !panel.hidden;
    $("inbox").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) {
      load(false);
      $("inbox-title").focus && $("inbox-title").setAttribute("tabindex", "-1");
    }
  }

  function setUp() {
    if (!$("inbox")) return;
    $("inbox").addEventListener("click", toggle);
    $("inbox-close").addEventListener("click", toggle);
    $("inbox-more").addEventListener("click", function () { load(true); });
    $("inbox-read-all").addEventListener("click", function () {
      var button = $("inbox-read-all");
      PB.pending(button, function () {
        return PB.api("/v1/notifications/read", { method: "POST" }).then(function () { return load(false); });
      });
    });
    PB.alsoOnSignIn(function () {
      refresh();
      if (timer) clearInterval(timer);
      timer = setInterval(refresh, POLL_MS);
    });
  }

  setUp();
})();
