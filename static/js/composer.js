// The reward composer: each weight has a slider and a box; moving one moves the other.
// Delegated on document, so it keeps working after htmx swaps the form.
(function () {
  "use strict";
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!(el instanceof HTMLInputElement)) return;
    if (el.hasAttribute("data-weight-slider")) {
      var box = document.getElementById(el.getAttribute("data-weight-slider"));
      if (box) box.value = el.value;
    } else if (el.hasAttribute("data-weight-input") && el.value.trim() !== "" && !isNaN(Number(el.value))) {
      var slider = document.querySelector('[data-weight-slider="' + el.id + '"]');
      if (slider) slider.value = el.value;
    }
  });
})();
