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

  // "Generate Password" swaps its field: focus goes to the new password, not to the page.
  document.addEventListener("htmx:afterSwap", function (event) {
    var path = event.detail.pathInfo && event.detail.pathInfo.requestPath;
    if (path && path.indexOf("/fragments/password") === 0) {
      var input = document.getElementById("password");
      if (input) input.focus();
    }
  });

  // Browse's filters are folded on a phone and open on a wider screen.
  function openOnWideScreens(root) {
    if (!window.matchMedia("(min-width: 48rem)").matches) return;
    root.querySelectorAll("details[data-open-wide]").forEach(function (details) {
      details.open = true;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    openOnWideScreens(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target) openOnWideScreens(event.detail.target);
  });

  // A long list of checkboxes (the mass mailer's countries) gets a box that narrows it as one
  // types; without JavaScript the list scrolls.
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-finds]").forEach(function (finder) {
      var list = document.getElementById(finder.getAttribute("data-finds"));
      var input = finder.querySelector("input");
      if (!list || !input) return;
      finder.hidden = false;
      input.addEventListener("input", function () {
        var wanted = fold(input.value.trim());
        list.querySelectorAll("[data-find-text]").forEach(function (item) {
          var checked = item.querySelector("input:checked");
          item.hidden = !checked && wanted !== "" && fold(item.getAttribute("data-find-text")).indexOf(wanted) === -1;
        });
      });
    });
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

  // --- Header search ---------------------------------------------------------------------
  // The box is an ARIA combobox: htmx puts the matching clients under it as a listbox while
  // people type. Arrow keys move the active option (aria-activedescendant; focus stays in the
  // box), Enter opens it, Escape closes the list. Enter with no active option submits the form:
  // the full results page.
  function headerSearch() {
    var input = document.getElementById("header-search-q");
    var results = document.getElementById("header-search-results");
    if (!input || !results) return;
    var form = input.form;
    var active = -1;

    function options() {
      return Array.prototype.slice.call(results.querySelectorAll('[role="option"]'));
    }
    function choose(index) {
      var list = options();
      active = index;
      list.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0 && list[index]) {
        input.setAttribute("aria-activedescendant", list[index].id);
        list[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function show(open) {
      results.hidden = !open || !results.firstElementChild;
      input.setAttribute("aria-expanded", !results.hidden && options().length ? "true" : "false");
      if (results.hidden) choose(-1);
    }

    input.addEventListener("keydown", function (event) {
      var list = options();
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!list.length) return;
        event.preventDefault();
        show(true);
        var step = event.key === "ArrowDown" ? 1 : -1;
        choose(active < 0 && step < 0 ? list.length - 1 : (active + step + list.length) % list.length);
      } else if (event.key === "Enter" && active >= 0 && list[active]) {
        event.preventDefault();
        window.location.assign(list[active].href);
      } else if (event.key === "Escape" && !results.hidden) {
        event.preventDefault();
        show(false);
      }
    });
    input.addEventListener("focus", function () { show(true); });
    form.addEventListener("focusout", function (event) {
      if (!event.relatedTarget || !form.contains(event.relatedTarget)) show(false);
    });
    document.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target !== results) return;
      active = -1;
      show(document.activeElement === input);
    });
  }
  headerSearch();

  // Browse and search results: after htmx swaps a results region, focus returns to the control
  // with the same id (htmx does that); when that control is gone (the last page's "Next"),
  // focus goes to the list, not to the top of the page.
  document.addEventListener("htmx:afterSettle", function (event) {
    var region = event.detail.elt;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-results-region")) return;
    if (document.activeElement && document.activeElement !== document.body) return;
    var list = region.querySelector(".table-wrap") || region;
    if (!list.hasAttribute("tabindex")) list.setAttribute("tabindex", "-1");
    list.focus();
  });

  // --- Client profile widgets ------------------------------------------------------------
  // Widgets are reordered by dragging their heading (SortableJS, vendored) or with the
  // "Move up" / "Move down" buttons, and minimized with the arrow button. Every change posts
  // the whole arrangement through htmx (the form #widget-state, CSRF header from <body>).
  // Without JavaScript the same buttons submit that form and the page comes back rearranged.
  function widgetContainer(element) {
    return element && element.closest("[data-widgets]");
  }
  function widgetTitle(widget) {
    var heading = widget.querySelector(".widget-handle");
    return heading ? heading.textContent.trim() : widget.getAttribute("data-widget");
  }
  function announceWidget(text) {
    var region = document.getElementById("widget-announcer");
    if (region) region.textContent = text;
  }
  function saveWidgets(container) {
    var form = document.getElementById(container.getAttribute("data-state-form"));
    if (!form) return;
    var order = [];
    var minimized = [];
    Array.prototype.forEach.call(container.children, function (widget) {
      var name = widget.getAttribute("data-widget");
      if (!name) return;
      order.push(name);
      var toggle = widget.querySelector("[data-widget-toggle]");
      if (toggle && toggle.getAttribute("aria-expanded") === "false") minimized.push(name);
    });
    form.elements.order.value = order.join(",");
    form.elements.minimized.value = minimized.join(",");
    if (window.htmx) window.htmx.trigger(form, "widgets-save");
  }
  function widgetPosition(widget) {
    var widgets = Array.prototype.filter.call(widget.parentElement.children, function (el) {
      return el.hasAttribute("data-widget");
    });
    return " (position " + (widgets.indexOf(widget) + 1) + " of " + widgets.length + ")";
  }
  document.addEventListener("click", function (event) {
    var move = event.target.closest("[data-widget-move]");
    if (move && widgetContainer(move)) {
      event.preventDefault();
      var widget = move.closest("[data-widget]");
      var up = move.getAttribute("data-widget-move") === "up";
      var sibling = up ? widget.previousElementSibling : widget.nextElementSibling;
      if (sibling && sibling.hasAttribute("data-widget")) {
        if (up) widget.parentElement.insertBefore(widget, sibling);
        else widget.parentElement.insertBefore(sibling, widget);
        move.focus();
        saveWidgets(widgetContainer(widget));
      }
      announceWidget(widgetTitle(widget) + widgetPosition(widget));
      return;
    }
    var toggle = event.target.closest("[data-widget-toggle]");
    if (toggle && widgetContainer(toggle)) {
      event.preventDefault();
      var box = toggle.closest("[data-widget]");
      var body = document.getElementById(toggle.getAttribute("aria-controls"));
      var expand = toggle.getAttribute("aria-expanded") === "false";
      toggle.setAttribute("aria-expanded", expand ? "true" : "false");
      box.classList.toggle("widget--minimized", !expand);
      if (body) body.hidden = !expand;
      saveWidgets(widgetContainer(box));
      announceWidget(widgetTitle(box) + (expand ? " expanded" : " minimized"));
    }
  });
  // The header's menus (<details class="menu">): one open at a time; a click elsewhere or
  // Escape closes the open one (Escape gives focus back to its button).
  function openMenus() {
    return document.querySelectorAll("details.menu[open]");
  }
  document.addEventListener(
    "toggle",
    function (event) {
      var menu = event.target;
      if (!menu.matches || !menu.matches("details.menu") || !menu.open) return;
      openMenus().forEach(function (other) {
        if (other !== menu) other.open = false;
      });
    },
    true
  );
  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      menu.open = false;
      if (menu.contains(document.activeElement)) menu.querySelector("summary").focus();
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Sortable) return;
    document.querySelectorAll("[data-widgets]").forEach(function (container) {
      window.Sortable.create(container, {
        handle: ".widget-handle",
        draggable: "[data-widget]",
        animation: 150,
        ghostClass: "widget--ghost",
        chosenClass: "widget--chosen",
        onEnd: function (event) {
          if (event.oldIndex === event.newIndex) return;
          saveWidgets(container);
          announceWidget(widgetTitle(event.item) + widgetPosition(event.item));
        },
      });
    });
  });
})();
