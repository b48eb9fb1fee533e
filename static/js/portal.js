// Behaviour for the whole portal. No inline scripts: the CSP forbids them. Every form works
// without this file; it only makes some things quicker.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // After an htmx error fragment lands in the flash area, bring it to the reader's attention.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "flash-messages") {
      target.scrollIntoView({ block: "nearest" });
    }
  });

  // A phone row added by htmx: move focus to its number so typing can go on.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "phone-rows") {
      var rows = event.detail.target.querySelectorAll(".phone-row");
      var last = rows[rows.length - 1];
      var input = last && last.querySelector("input[type=tel]");
      if (input) input.focus();
    }
  });

  // "Remove" on a phone row: without JavaScript it re-renders the form without the row.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-row]");
    if (!button) return;
    var row = document.getElementById(button.getAttribute("data-remove-row"));
    if (!row) return;
    event.preventDefault();
    var container = row.parentElement;
    row.remove();
    var focusTarget = container && container.querySelector("input[type=tel]");
    if (focusTarget) focusTarget.focus();
  });

  // The Username field matters only with "Specify a username".
  function syncShownWhen() {
    document.querySelectorAll("[data-shown-when]").forEach(function (element) {
      var control = document.getElementById(element.getAttribute("data-shown-when"));
      if (control) element.hidden = !control.checked;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("input[type=radio]")) syncShownWhen();
  });
  document.addEventListener("DOMContentLoaded", syncShownWhen);

  // A form that comes back with errors: focus its summary so screen readers announce it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("form-errors");
    if (summary) summary.focus();
  });
})();
