// Progressive enhancement for /admin/exports: while an export is queued or being built, read
// the page again every two seconds and put its fresh list in place, so the admin sees it
// finish without reloading; the status line (a live region) says what changed. Without
// JavaScript the page offers a link to refresh it.
(function () {
  "use strict";
  var section = document.getElementById("export-jobs");
  if (!section || !window.fetch || !window.DOMParser) { return; }
  var waitMs = 2000;

  function refresh() {
    fetch(window.location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (text) {
        var page = new DOMParser().parseFromString(text, "text/html");
        var fresh = page.getElementById("export-jobs");
        if (!fresh) { return; }
        var list = document.getElementById("export-list");
        var freshList = fresh.querySelector("#export-list");
        // Only when something changed: a replaced list would take the keyboard focus away.
        if (list && freshList && list.innerHTML !== freshList.innerHTML) {
          list.replaceWith(document.importNode(freshList, true));
        }
        var status = document.getElementById("export-status");
        var freshStatus = fresh.querySelector("#export-status");
        if (status && freshStatus && status.textContent !== freshStatus.textContent) {
          status.textContent = freshStatus.textContent;
        }
        if (fresh.hasAttribute("data-pending")) {
          window.setTimeout(refresh, waitMs);
        } else {
          section.removeAttribute("data-pending");
        }
      })
      .catch(function () {
        // Signed out or offline: stop, and say how to see the state.
        var status = document.getElementById("export-status");
        if (status) { status.textContent = "Could not check on the export; reload the page to see it."; }
      });
  }

  if (section.hasAttribute("data-pending")) { window.setTimeout(refresh, waitMs); }
})();
