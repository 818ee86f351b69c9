// Refresh parts of a page while the server reports them busy (a prearchive session RECEIVING,
// ARCHIVING, ...). Any element with an id and data-refresh="busy" is fetched again every few
// seconds and replaced by the element with the same id in the new page; it stops once idle. When
// the page is gone (a session archived, moved or deleted) the part says so and links to
// data-gone-url. Without JavaScript the pages work the same, with a Refresh link instead.
// A part with data-watch (a URL answering {"version": ...}) and data-version is also watched while
// idle: the small answer is asked for every WATCH_MIN_MS, slowing down to WATCH_MAX_MS while nothing
// changes (and not at all while the tab is hidden); a new version reloads the part as above, so
// sessions arriving in an empty prearchive appear without a reload.
(function () {
  "use strict";
  var INTERVAL_MS = 3000, WATCH_MIN_MS = 3000, WATCH_MAX_MS = 15000;
  var watchDelay = WATCH_MIN_MS, watchTimer = null, refreshing = false;
  function busyParts() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-refresh='busy'][id]"));
  }
  function watchedParts() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-watch][data-version][id]:not([data-refresh='busy'])"));
  }
  function gone(part) {
    var note = document.createElement("p");
    note.className = "warning-box";
    note.textContent = "This session is no longer in the prearchive: it was archived, moved or deleted. ";
    if (part.dataset.goneUrl) {
      var link = document.createElement("a");
      link.href = part.dataset.goneUrl;
      link.textContent = part.dataset.goneText || "Back to the prearchive";
      note.appendChild(link);
    }
    part.dataset.refresh = "gone";
    part.insertBefore(note, part.firstChild);
  }
  function inUse(part) {  // never swap out what someone is choosing or typing in
    return part.querySelector("input:checked") || part.contains(document.activeElement);
  }
  // Fetch the page again and swap in the new copies of `parts`; resolves when done (or failed).
  function reload(parts) {
    return fetch(window.location.href, { headers: { "X-Requested-With": "refresh" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 404) { parts.forEach(gone); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        parts.forEach(function (part) {
          var replacement = fresh.getElementById(part.id);
          if (replacement) part.replaceWith(document.importNode(replacement, true));
        });
        document.dispatchEvent(new CustomEvent("xnatlite:refreshed"));
      })
      .catch(function () { /* a missed refresh is retried at the next tick */ });
  }
  function refresh() {
    var parts = busyParts();
    if (!parts.length) { refreshing = false; watchSoon(); return; }
    refreshing = true;
    if (parts.some(inUse)) { window.setTimeout(refresh, INTERVAL_MS); return; }
    reload(parts).finally(function () {
      if (busyParts().length) window.setTimeout(refresh, INTERVAL_MS);
      else { refreshing = false; watchSoon(); }
    });
  }
  function watchSoon() {
    if (watchTimer !== null || refreshing || document.hidden || !watchedParts().length) return;
    watchTimer = window.setTimeout(watch, watchDelay);
  }
  function watch() {
    watchTimer = null;
    var parts = watchedParts();
    if (!parts.length || refreshing || document.hidden) return;
    var part = parts[0];
    fetch(part.dataset.watch, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer || answer.version === part.dataset.version || inUse(part)) {
          watchDelay = Math.min(WATCH_MAX_MS, watchDelay * 2);
          return null;
        }
        watchDelay = WATCH_MIN_MS;
        return reload(parts);
      })
      .catch(function () { watchDelay = Math.min(WATCH_MAX_MS, watchDelay * 2); })
      .finally(function () {
        if (busyParts().length) { if (!refreshing) { refreshing = true; window.setTimeout(refresh, INTERVAL_MS); } }
        else watchSoon();
      });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { watchDelay = WATCH_MIN_MS; watchSoon(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (busyParts().length) { refreshing = true; window.setTimeout(refresh, INTERVAL_MS); }
    else watchSoon();
  });
})();
