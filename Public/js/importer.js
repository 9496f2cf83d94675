// "Import CSV": pick a file, send it to a bulk route, and show what happened, or every bad row with its line.
import { uploadCSV } from "./api.js";
import { h, table } from "./ui.js";

/// `columns`: the header the file needs, shown as a hint; `onImported(result)` runs after a file was written.
export function csvImporter({ title, path, columns, onImported }) {
  const file = h("input", { type: "file", accept: ".csv,text/csv", "aria-label": `${title}: CSV file`, dataset: { test: "import-file" } });
  const partial = h("input", { type: "checkbox", dataset: { test: "import-partial" } });
  const outcome = h("div", { dataset: { test: "import-outcome" }, "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary", disabled: true }, "Import");
  file.addEventListener("change", () => { button.disabled = file.files.length === 0; outcome.replaceChildren(); });
  const form = h("form", { class: "card", dataset: { test: "import-csv" } },
    h("h2", {}, title),
    h("p", { class: "muted small" }, "A CSV file (UTF-8) with a header row: ", h("code", {}, columns.join(",")), "."),
    h("div", { class: "toolbar" }, file,
      h("label", { class: "small" }, partial, " Import the valid rows even if some are wrong"), button),
    outcome);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    button.disabled = true;
    outcome.replaceChildren(h("p", { class: "muted" }, `Importing ${chosen.name}…`));
    try {
      const result = await uploadCSV(`${path}${partial.checked ? "?mode=partial" : ""}`, await chosen.text());
      const counts = {};
      for (const row of result.results) counts[row.action] = (counts[row.action] ?? 0) + 1;
      const summary = Object.entries(counts).map(([action, count]) => `${count} ${action}`).join(", ") || "nothing to change";
      outcome.replaceChildren(h("p", { class: "form-ok", dataset: { test: "import-summary" } },
        `Imported ${chosen.name}: ${summary}.`), rowErrorTable(result.errors, "Left out"));
      onImported?.(result);
    } catch (error) {
      outcome.replaceChildren(h("div", { class: "form-error", dataset: { test: "import-error" } }, error.message),
        rowErrorTable(error.rowErrors ?? [], "Fix these rows and import the file again"));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function rowErrorTable(errors, caption) {
  if (!errors || errors.length === 0) return "";
  return h("div", {}, h("h3", {}, caption),
    table(["Line", "Column", "Problem"], errors.map(error => h("tr", { dataset: { test: "import-row-error" } },
      h("td", { class: "num" }, error.index + 2), h("td", {}, error.field ?? ""), h("td", {}, error.message)))));
}
