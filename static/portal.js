// Small improvements on top of pages that work without JavaScript.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Registration: a company RUT (50.000.000 or more) asks for the razón social instead of
  // names. Without JavaScript both groups stay visible and the server decides.
  function rutNumber(text) {
    var digits = text.replace(/[^0-9kK]/g, "");
    return digits.length > 1 ? parseInt(digits.slice(0, -1), 10) : NaN;
  }

  function toggleCompanyFields() {
    var rut = document.getElementById("rut");
    var company = document.querySelector("[data-company-fields]");
    var person = document.querySelector("[data-person-fields]");
    if (!rut || !company || !person) return;
    var number = rutNumber(rut.value);
    var known = !isNaN(number);
    company.hidden = known && number < 50000000;
    person.hidden = known && number >= 50000000;
  }

  // Región then Comuna: without JavaScript the comuna list holds every comuna grouped by
  // región; with it, only the chosen región's.
  function filterComunas() {
    var region = document.querySelector("[data-region-select]");
    var comuna = document.querySelector("[data-comuna-select]");
    if (!region || !comuna) return;
    var groups = comuna.querySelectorAll("optgroup");
    for (var i = 0; i < groups.length; i++) {
      var match = !region.value || groups[i].getAttribute("data-region") === region.value;
      groups[i].hidden = !match;
      groups[i].disabled = !match;
    }
    var selected = comuna.options[comuna.selectedIndex];
    if (selected && selected.parentNode.disabled) comuna.value = "";
  }

  function toggleClientNumber() {
    var box = document.querySelector("[data-no-client-number]");
    if (!box) return;
    var client = document.querySelector("[data-client-number]");
    var feasibility = document.querySelector("[data-feasibility-number]");
    client.hidden = box.checked;
    feasibility.classList.remove("js-hidden");
    feasibility.hidden = !box.checked;
  }

  function toggleMeterSlots() {
    var box = document.querySelector("[data-brings-meter]");
    if (!box) return;
    var slots = document.querySelectorAll("[data-meter-slot]");
    for (var i = 0; i < slots.length; i++) slots[i].hidden = !box.checked;
  }

  function on(selector, event, handler) {
    var element = document.querySelector(selector);
    if (element) {
      element.addEventListener(event, handler);
      handler();
    }
  }

  // Bandeja de Solicitudes: typing in N° Folio narrows the list as one types. Without
  // JavaScript the "Filtrar" button does the same; this only saves the click.
  function liveFilters() {
    var form = document.querySelector("[data-live-filters]");
    var input = form && form.querySelector("[data-live-filter]");
    var results = document.querySelector("[data-results]");
    if (!input || !results || !window.fetch || !window.DOMParser) return;
    var status = document.querySelector("[data-results-status]");
    var timer = null;
    var latest = 0;
    function target() {
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (String(value).trim() !== "") params.append(name, value);
      });
      var query = params.toString();
      return form.getAttribute("action") + (query ? "?" + query : "");
    }
    function refresh() {
      var url = target();
      var request = ++latest;
      fetch(url, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          // Answers can arrive out of order: only the last keystroke's is shown.
          if (request !== latest) return;
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.querySelector("[data-results]");
          if (!fresh) return;
          results.innerHTML = fresh.innerHTML;
          history.replaceState(null, "", url);
          var count = results.querySelector("[data-total]");
          if (status && count) {
            var total = count.getAttribute("data-total");
            status.textContent = total === "1"
              ? "1 solicitud encontrada"
              : total + " solicitudes encontradas";
          }
        })
        .catch(function () { /* the list stays as it was; "Filtrar" still works */ });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("[data-company-fields]")) on("#rut", "input", toggleCompanyFields);
    on("[data-region-select]", "change", filterComunas);
    on("[data-no-client-number]", "change", toggleClientNumber);
    on("[data-brings-meter]", "change", toggleMeterSlots);
    var sizes = document.querySelectorAll("[data-autosubmit]");
    for (var i = 0; i < sizes.length; i++) {
      sizes[i].addEventListener("change", function (event) { event.target.form.submit(); });
    }
    var print = document.querySelector("[data-print]");
    if (print) print.addEventListener("click", function () { window.print(); });
    // "Grabar" once: the server also recognises a second submission of the same form.
    var submit = document.querySelector("[data-submit-once]");
    if (submit) {
      submit.form.addEventListener("submit", function () {
        setTimeout(function () { submit.disabled = true; submit.textContent = "Enviando…"; }, 0);
      });
    }
    var summary = document.getElementById("errores");
    if (summary) summary.focus();
    liveFilters();
  });
})();
