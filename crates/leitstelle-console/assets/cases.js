// Case pages: evidence upload. The file goes to the API as the raw request body (its name
// in the query), with the session's CSRF token as a header; the page reloads on success.
"use strict";

(function () {
  document.querySelectorAll("form[data-upload]").forEach((form) =>
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const input = form.querySelector('input[type="file"]');
      const status = form.querySelector("output");
      const file = input && input.files && input.files[0];
      if (!file) return;
      if (status) status.textContent = "Uploading " + file.name + "…";
      try {
        const resp = await fetch(
          form.dataset.upload + "?name=" + encodeURIComponent(file.name),
          {
            method: "POST",
            credentials: "same-origin",
            headers: {
              "X-CSRF-Token": form.dataset.csrf,
              "Content-Type": "application/octet-stream",
            },
            body: file,
          }
        );
        if (resp.ok) {
          location.reload();
          return;
        }
        const body = await resp.json().catch(() => ({}));
        if (status) status.textContent = "Upload failed: " + (body.error || resp.status);
      } catch (err) {
        if (status) status.textContent = "Upload failed: " + err;
      }
    })
  );
})();
