// Progressive enhancement: a "Copy" button next to each read-only link or token field.
// Without JavaScript the field is still there to select and copy by hand.
(function () {
  "use strict";
  var fields = document.querySelectorAll("input.copy-link");
  Array.prototype.forEach.call(fields, function (field) {
    if (!navigator.clipboard) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + (field.labels && field.labels[0] ? field.labels[0].textContent : "value"));
    var status = document.createElement("span");
    status.setAttribute("role", "status");
    status.className = "copy-status";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        status.textContent = "Copied.";
      }, function () {
        field.select();
        status.textContent = "Press Ctrl+C (or long-press) to copy.";
      });
    });
    field.insertAdjacentElement("afterend", status);
    field.insertAdjacentElement("afterend", button);
  });
})();
