// Secrets shown to copy (API tokens, invitation links): a Show/Hide toggle, a Copy
// button, and a confirmation before forms marked data-confirm (rotating a token).
(function () {
  "use strict";

  function copyText(input, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        input.select();
      });
    } else {
      // Plain-http deployments have no clipboard API: select the text for Ctrl+C.
      var type = input.type;
      input.type = "text";
      input.select();
      var copied = document.execCommand && document.execCommand("copy");
      input.type = type;
      if (copied) done();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-reveal]");
    if (!button) return;
    var input = document.getElementById(button.dataset.copy || button.dataset.reveal);
    if (!input) return;
    if (button.dataset.copy) {
      copyText(input, button);
    } else {
      var hidden = input.type === "password";
      input.type = hidden ? "text" : "password";
      button.textContent = hidden ? "Hide" : "Show";
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
