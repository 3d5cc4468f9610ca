// The console's small amount of behaviour: the reason dialog for operator actions, and the waterfall's
// collapse / expand / next-error controls. Polling is htmx's (hx-trigger="every 2s").
(function () {
  "use strict";

  // --- operator actions: every button with data-action asks for a reason, then POSTs the form ---
  const dialog = document.getElementById("reason-dialog");
  const form = document.getElementById("reason-form");
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-action]");
    if (!button || !dialog) return;
    form.action = button.dataset.action;
    document.getElementById("reason-title").textContent = button.dataset.title || "Operator action";
    document.getElementById("reason-input").value = "";
    dialog.showModal();
  });
  const cancel = document.getElementById("reason-cancel");
  if (cancel) cancel.addEventListener("click", function () { dialog.close(); });

  // --- waterfall ---
  const collapsed = new Set(); // ids of nodes whose subtree is hidden (kept across htmx refreshes)

  function rows() { return Array.from(document.querySelectorAll("tr.wf-row")); }

  function apply() {
    const hidden = new Set();
    rows().forEach(function (row) {
      const parent = row.dataset.parent;
      const hide = parent && (hidden.has(parent) || collapsed.has(parent));
      if (hide) hidden.add(row.dataset.id);
      row.hidden = Boolean(hide);
      const toggle = row.querySelector(".toggle");
      if (toggle) {
        const open = !collapsed.has(row.dataset.id);
        toggle.textContent = open ? "▾" : "▸";
        toggle.setAttribute("aria-expanded", String(open));
        toggle.setAttribute("aria-label", open ? "collapse" : "expand");
      }
    });
  }

  function hasChildren(row) { return Boolean(row.querySelector(".toggle")); }

  document.addEventListener("click", function (event) {
    const toggle = event.target.closest(".wf-row .toggle");
    if (toggle) {
      const id = toggle.closest("tr").dataset.id;
      if (collapsed.has(id)) collapsed.delete(id); else collapsed.add(id);
      apply();
      return;
    }
    switch (event.target.id) {
      case "collapse-all":
        rows().filter(hasChildren).forEach(function (r) { collapsed.add(r.dataset.id); });
        break;
      case "expand-all":
        collapsed.clear();
        break;
      case "expand-level": // open the shallowest collapsed nodes that are visible
        const visible = rows().filter(function (r) { return !r.hidden && collapsed.has(r.dataset.id); });
        if (visible.length) {
          const depth = Math.min.apply(null, visible.map(function (r) { return Number(r.dataset.depth); }));
          visible.filter(function (r) { return Number(r.dataset.depth) === depth; })
                 .forEach(function (r) { collapsed.delete(r.dataset.id); });
        }
        break;
      case "next-error":
        nextError();
        return;
      default:
        return;
    }
    apply();
  });

  let errorIndex = -1;
  function nextError() {
    const errors = rows().filter(function (r) { return r.dataset.status === "error"; });
    if (!errors.length) return;
    errorIndex = (errorIndex + 1) % errors.length;
    const row = errors[errorIndex];
    // open every collapsed ancestor so the error can be seen
    let parent = row.dataset.parent;
    while (parent) {
      collapsed.delete(parent);
      const up = document.querySelector('tr.wf-row[data-id="' + parent + '"]');
      parent = up ? up.dataset.parent : "";
    }
    apply();
    document.querySelectorAll("tr.wf-row.current").forEach(function (r) { r.classList.remove("current"); });
    row.classList.add("current");
    row.scrollIntoView({ block: "center" });
    row.setAttribute("tabindex", "-1");
    row.focus();
  }

  document.addEventListener("htmx:afterSwap", apply);
})();
