// Hunt page: `/` focuses the search box; typing a bound picks the custom range (app.js makes
// the tenant switcher keep the hunt). Works without it: everything is plain links and forms.
(function () {
  const box = document.getElementById("hunt-q");
  if (!box) return;

  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const typing =
      t instanceof HTMLInputElement ||
      t instanceof HTMLTextAreaElement ||
      t instanceof HTMLSelectElement ||
      (t instanceof HTMLElement && t.isContentEditable);
    if (typing) return;
    e.preventDefault();
    box.focus();
    box.select();
  });

  // Typing a from/to bound switches the range selector to "custom"; picking a preset
  // clears the bounds (the server ignores them for presets anyway).
  const range = document.getElementById("hunt-range");
  const bounds = ["hunt-from", "hunt-to"]
    .map((id) => document.getElementById(id))
    .filter((el) => el);
  if (range) {
    bounds.forEach((el) =>
      el.addEventListener("input", () => {
        if (el.value.trim() !== "") range.value = "custom";
      })
    );
    range.addEventListener("change", () => {
      if (range.value !== "custom") bounds.forEach((el) => (el.value = ""));
    });
  }
})();
