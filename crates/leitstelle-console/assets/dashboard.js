// dashboard: the charts are static SVG with <title> tooltips and need no script. The
// period links keep the tenant picked; this only reloads the page every five minutes
// while it is visible, so a wall display stays current.
"use strict";
(function () {
  if (!document.querySelector("nav.periods")) return;
  setInterval(() => {
    if (document.visibilityState === "visible") location.reload();
  }, 5 * 60 * 1000);
})();
