// Leitstelle console: live alert queue (server-sent events), SLA countdowns, bulk
// selection, keyboard navigation, theme switch. No inline scripts; loaded with `defer`.
"use strict";

(function () {
  // Theme: remembered per browser; the CSS follows the system until one is picked.
  const root = document.documentElement;
  const saved = localStorage.getItem("leitstelle-theme");
  if (saved === "dark" || saved === "light") root.dataset.theme = saved;
  document.querySelectorAll("[data-theme-toggle]").forEach((b) =>
    b.addEventListener("click", () => {
      const dark = root.dataset.theme
        ? root.dataset.theme === "dark"
        : matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      localStorage.setItem("leitstelle-theme", root.dataset.theme);
    })
  );

  // Selects marked data-autosubmit submit their form when changed (the tenant switcher).
  document.querySelectorAll("select[data-autosubmit]").forEach((s) =>
    s.addEventListener("change", () => s.form.submit())
  );

  // The tenant switcher keeps the view: the page's other parameters (filters, query, time
  // range, period) go along; paging starts over.
  const switcher = document.querySelector("form.tenant-switch");
  if (switcher) {
    new URLSearchParams(location.search).forEach((value, name) => {
      if (["tenant", "before", "offset"].includes(name) || switcher.elements.namedItem(name)) return;
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = name;
      hidden.value = value;
      switcher.appendChild(hidden);
    });
  }

  // SLA countdowns: every cell with data-due (ms since the epoch) ticks each second.
  function fmt(secs) {
    const s = Math.abs(Math.trunc(secs));
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
    const m = Math.floor(s / 60) % 60, r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + two(m) + "m";
    if (m > 0) return m + "m " + two(r) + "s";
    return r + "s";
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll(".sla[data-due]").forEach((el) => {
      const left = (Number(el.dataset.due) - now) / 1000;
      if (left < 0) {
        el.textContent = "breached " + fmt(-left);
        el.classList.add("breached");
        const row = el.closest("tr");
        if (row) row.classList.add("breached");
      } else {
        el.textContent = el.dataset.what + " " + fmt(left);
      }
    });
  }
  tick();
  setInterval(tick, 1000);

  // Bulk selection.
  document.querySelectorAll("[data-select-all]").forEach((all) =>
    all.addEventListener("change", () =>
      document
        .querySelectorAll('#queue tbody input[name="ids"]')
        .forEach((c) => (c.checked = all.checked))
    )
  );

  // Keyboard: j / k move through the queue, Enter opens, x selects.
  const queue = document.getElementById("queue");
  if (queue) {
    document.addEventListener("keydown", (e) => {
      if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
      const rows = Array.from(queue.querySelectorAll("tbody tr"));
      if (!rows.length) return;
      let i = rows.indexOf(document.activeElement);
      if (e.key === "j") i = Math.min(rows.length - 1, i + 1);
      else if (e.key === "k") i = Math.max(0, i - 1);
      else if (e.key === "Enter" && i >= 0) {
        const a = rows[i].querySelector("td.title a");
        if (a) location.href = a.href;
        return;
      } else if (e.key === "x" && i >= 0) {
        const c = rows[i].querySelector('input[name="ids"]');
        if (c) c.checked = !c.checked;
        return;
      } else return;
      e.preventDefault();
      rows[Math.max(0, i)].focus();
    });
  }

  // Live queue: each alert raised or changed arrives as an event with its id; the row is
  // fetched rendered by the server (escaped there) and put in place, newest on top.
  if (queue && queue.dataset.stream && window.EventSource) {
    const params = new URLSearchParams(location.search);
    const tenant = params.get("tenant");
    const url = queue.dataset.stream + (tenant ? "?tenant=" + encodeURIComponent(tenant) : "");
    const source = new EventSource(url);
    source.addEventListener("alert", async (e) => {
      const id = Number(e.data);
      if (!Number.isInteger(id)) return;
      const resp = await fetch("/console/alerts/" + id + "/row", { credentials: "same-origin" });
      if (!resp.ok) return;
      const html = await resp.text();
      const tpl = document.createElement("template");
      tpl.innerHTML = html.trim();
      const row = tpl.content.querySelector("tr");
      if (!row) return;
      const body = queue.querySelector("tbody");
      const old = body.querySelector('tr[data-id="' + id + '"]');
      if (old) old.replaceWith(row);
      else body.prepend(row);
      row.classList.add("fresh");
      const empty = document.querySelector(".empty");
      if (empty) empty.remove();
      tick();
    });
  }
})();
