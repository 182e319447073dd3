// Progressive enhancement of the check-in form: the answers are saved on the server as the
// client goes (at most every few seconds, and when the page is hidden), so closing the tab or
// losing the connection does not lose them. Without JavaScript the "Save and finish later"
// button does the same.
(function () {
  "use strict";
  var form = document.getElementById("checkin");
  if (!form || !window.fetch || !window.FormData) { return; }
  var url = form.getAttribute("data-draft-url");
  var status = document.getElementById("draft-status");
  var timer = null;
  var dirty = false;
  var EVERY_MS = 4000;

  function body() {
    var data = new FormData(form);
    data.delete("_required");
    data.delete("_required_sig");
    return new URLSearchParams(data);
  }

  function save() {
    timer = null;
    if (!dirty) { return; }
    dirty = false;
    fetch(url, { method: "POST", body: body(), credentials: "same-origin" }).then(function (r) {
      // The page gives the words in its own language (data-saved-text).
      if (r.status === 204 && status) {
        status.textContent = form.getAttribute("data-saved-text") || "Answers saved.";
      }
    }, function () { dirty = true; });
  }

  form.addEventListener("change", function () {
    dirty = true;
    if (timer === null) { timer = window.setTimeout(save, EVERY_MS); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden" && dirty && navigator.sendBeacon) {
      dirty = false;
      navigator.sendBeacon(url, body());
    }
  });
})();
