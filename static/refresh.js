// Refresh parts of a page while the server reports them busy (a prearchive session RECEIVING,
// ARCHIVING, ...). Any element with an id and data-refresh="busy" is fetched again every few
// seconds and replaced by the element with the same id in the new page; it stops once idle. When
// the page is gone (a session archived, moved or deleted) the part says so and links to
// data-gone-url. Without JavaScript the pages work the same, with a Refresh link instead.
(function () {
  "use strict";
  var INTERVAL_MS = 3000;
  function busyParts() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-refresh='busy'][id]"));
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
  function refresh() {
    var parts = busyParts();
    if (!parts.length) return;
    if (parts.some(inUse)) { window.setTimeout(refresh, INTERVAL_MS); return; }
    fetch(window.location.href, { headers: { "X-Requested-With": "refresh" }, credentials: "same-origin" })
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
      .catch(function () { /* a missed refresh is retried at the next tick */ })
      .finally(function () { if (busyParts().length) window.setTimeout(refresh, INTERVAL_MS); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (busyParts().length) window.setTimeout(refresh, INTERVAL_MS);
  });
})();
