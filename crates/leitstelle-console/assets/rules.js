// rules pages: the Tab key indents in the YAML editor (two spaces) instead of leaving it;
// Escape then Tab leaves it as usual, so keyboard users are never trapped.
"use strict";
(function () {
  document.querySelectorAll("textarea.yaml").forEach((ta) => {
    let escaped = false;
    ta.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        escaped = true;
        return;
      }
      if (e.key !== "Tab" || escaped || e.shiftKey || e.ctrlKey || e.altKey || e.metaKey) {
        escaped = false;
        return;
      }
      e.preventDefault();
      const s = ta.selectionStart, end = ta.selectionEnd;
      ta.value = ta.value.slice(0, s) + "  " + ta.value.slice(end);
      ta.selectionStart = ta.selectionEnd = s + 2;
    });
  });
})();
