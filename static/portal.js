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
  });
})();
