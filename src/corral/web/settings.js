// Settings: the live configuration. Admin keys edit them in place; a saved value takes
// effect at once on the server (no restart), which the row shows by re-reading it.

import { ApiError } from "./api.js";
import { h, fill, KeyedTable, Refresher } from "./dom.js";

export function settingsPage(ctx) {
  const { api } = ctx;
  let all = [];
  const filterInput = h("input#settings-filter", { type: "search", autocomplete: "off", spellcheck: false, placeholder: "e.g. process." });
  const status = h("p.status", { "aria-live": "polite" });

  function valueCell(td, s) {
    if (!ctx.isAdmin) {
      const text = s.value === "" ? "(empty)" : s.value;
      if (td.textContent !== text) fill(td, h("span.mono", text));
      return;
    }
    if (!td.__form) {
      const input = h("input.mono.setting-value", {
        id: `setting-${s.name}`, name: s.name, autocomplete: "off", spellcheck: false,
        "aria-label": `Value of ${s.name}`,
      });
      const save = h("button.small", { type: "submit" }, "Save");
      const note = h("span.row-status", { "aria-live": "polite" });
      const form = h("form.setting-form", {
        onsubmit: async (e) => {
          e.preventDefault();
          save.disabled = true;
          note.textContent = "saving…";
          note.className = "row-status";
          try {
            const out = await api.put(`/settings/${encodeURIComponent(s.name)}`, { value: input.value });
            input.dataset.saved = out.value;
            input.classList.remove("dirty");
            note.textContent = `saved · in force: ${out.activeValue}`;
            note.className = "row-status ok";
            const i = all.findIndex((x) => x.name === out.name);
            if (i >= 0) all[i] = out;
            render();
          } catch (err) {
            note.textContent = err instanceof ApiError ? err.message : String(err);
            note.className = "row-status error";
          } finally {
            save.disabled = false;
          }
        },
      }, input, save, note);
      input.addEventListener("input", () => input.classList.toggle("dirty", input.value !== input.dataset.saved));
      input.addEventListener("keydown", (e) => {
        if (e.key === "Escape") { input.value = input.dataset.saved; input.classList.remove("dirty"); }
      });
      td.__form = form;
      td.__input = input;
      fill(td, form);
    }
    const input = td.__input;
    // never overwrite what someone is typing
    if (!input.classList.contains("dirty") && document.activeElement !== input) input.value = s.value;
    input.dataset.saved = s.value;
  }

  const table = new KeyedTable({
    label: "Settings",
    rowKey: (s) => s.name,
    empty: "No settings match.",
    columns: [
      { label: "Name", width: "30%", cls: "mono", render: (s) => s.name },
      { label: ctx.isAdmin ? "Value (Enter saves, Esc undoes)" : "Value", width: ctx.isAdmin ? "34%" : "20%", cls: "value", update: valueCell },
      { label: "Source", width: "6.5rem", render: (s) => h(`span.badge.${s.source === "Database" ? "ok" : "off"}`, s.source === "Database" ? "set" : "default") },
      { label: "Description", render: (s) => s.description || h("span.muted", "—") },
    ],
  });

  function render() {
    const q = filterInput.value.trim().toLowerCase();
    const shown = all.filter((s) => !q || s.name.toLowerCase().includes(q) || (s.description || "").toLowerCase().includes(q));
    table.update(shown);
    status.textContent = `${shown.length} of ${all.length} settings` + (ctx.isAdmin ? "" : " (only public settings are visible to this key; admin keys can change them)");
  }

  async function load() {
    try {
      const { data } = await api.list("/settings");
      all = data;
      render();
    } catch (err) {
      ctx.showError(err, "Loading settings");
    }
  }
  const refresher = new Refresher(load);
  filterInput.addEventListener("input", render);

  return {
    title: "Settings",
    mount(main) {
      fill(main,
        h("div.page-head", h("h1", "Settings"), h("p.lede", ctx.isAdmin ?
          "Changes take effect at once, without a restart." :
          "Read only: only an admin key may change settings.")),
        h("form.filters", { role: "search", onsubmit: (e) => e.preventDefault() },
          h("label", { htmlFor: "settings-filter" }, "Filter"), filterInput),
        status, table.el);
      refresher.run();
    },
    unmount() { refresher.stop(); },
  };
}
