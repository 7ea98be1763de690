// Progressive enhancement of the import upload form: the form is a plain multipart
// POST that works without JavaScript; with it, the file is sent with XMLHttpRequest
// so a <progress> shows the bytes sent, then the browser follows the server's redirect.
(function () {
  "use strict";

  function formatBytes(bytes) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  function enhance(form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector('input[type="file"]');
      if (!window.FormData || !input || !input.files || input.files.length === 0) {
        return; // let the browser submit; the server answers with the form's errors
      }
      event.preventDefault();
      var box = form.querySelector("[data-upload-progress]");
      var bar = box.querySelector("progress");
      var label = box.querySelector("[data-upload-label]");
      var button = form.querySelector('button[type="submit"]');
      var total = input.files[0].size;

      box.hidden = false;
      button.disabled = true;
      bar.max = total || 1;
      bar.value = 0;
      label.textContent = "Uploading… 0 of " + formatBytes(total);

      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.max = e.total;
        bar.value = e.loaded;
        label.textContent = "Uploading… " + formatBytes(e.loaded) + " of " + formatBytes(e.total);
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = bar.max;
        label.textContent = "Upload complete. Checking the file…";
      });
      xhr.addEventListener("load", function () {
        // Success is a redirect to the job's page, which the XHR has followed.
        if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL && xhr.responseURL !== form.action) {
          window.location.assign(xhr.responseURL);
          return;
        }
        // Refused: show the form the server rendered, with its errors.
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var fresh = page.getElementById(form.id);
        if (fresh) {
          fresh = document.importNode(fresh, true);
          form.replaceWith(fresh);
          enhance(fresh);
        } else {
          fail("The upload was refused (" + xhr.status + " " + xhr.statusText + ").");
        }
      });
      xhr.addEventListener("error", function () {
        fail("The upload failed: the connection was lost. Try again.");
      });

      function fail(message) {
        button.disabled = false;
        box.hidden = true;
        var alert = form.querySelector(".upload-error");
        if (!alert) {
          alert = document.createElement("div");
          alert.className = "alert alert-error upload-error";
          alert.setAttribute("role", "alert");
          form.prepend(alert);
        }
        alert.textContent = message;
      }

      xhr.send(new FormData(form));
    });
  }

  document.querySelectorAll("form[data-upload]").forEach(enhance);
})();
