// Small improvements on top of pages that work without JavaScript.
(function () {
  "use strict";

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

  document.addEventListener("DOMContentLoaded", function () {
    var rut = document.getElementById("rut");
    if (rut && document.querySelector("[data-company-fields]")) {
      rut.addEventListener("input", toggleCompanyFields);
      toggleCompanyFields();
    }
    var summary = document.getElementById("errores");
    if (summary) summary.focus();
  });
})();
