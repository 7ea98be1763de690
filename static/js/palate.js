// Palate's page-wide behaviour. Loaded in <head> (not deferred) so the `js` class is
// set before the first paint: elements marked .js-hidden are fallbacks for browsers
// without JavaScript.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function showError(text) {
    var region = document.getElementById("htmx-error");
    if (!region) return;
    var alert = document.createElement("div");
    alert.className = "alert alert-error";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    region.replaceChildren(alert);
  }

  // htmx does not swap 4xx/5xx answers (422 excepted, see base.html): say so instead
  // of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var reasons = {
      403: "Your role in this project does not allow this.",
      404: "This no longer exists. Reload the page.",
      503: "The server cannot reach its database or workers at the moment. Try again in a few seconds.",
    };
    showError(reasons[xhr.status] || "Something went wrong (" + xhr.status + "). Try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showError("Could not reach the server. Check your connection and try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var region = document.getElementById("htmx-error");
    if (region) region.replaceChildren();
  });
})();
