// Behaviour for the whole portal. No inline scripts: the CSP forbids them.
(function () {
  "use strict";
  // After an htmx error fragment lands in the flash area, bring it to the reader's attention.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "flash-messages") {
      target.scrollIntoView({ block: "nearest" });
    }
  });
})();
