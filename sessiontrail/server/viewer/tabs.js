// A tab bar as WAI-ARIA describes it: arrow keys, Home and End move between
// tabs, only the selected tab is in the Tab order.

import { h } from "./dom.js";

export function tabs(items, selected, panel, onSelect) {
  panel.setAttribute("role", "tabpanel");
  panel.id = "tab-panel";
  panel.tabIndex = 0;
  const buttons = items.map(([name, label]) => h("button", {
    type: "button", role: "tab", id: `tab-${name}`, "aria-controls": "tab-panel",
    onclick: () => { bar.select(name); onSelect(name); },
  }, label));
  const bar = h("div", { role: "tablist", class: "tabs", "aria-label": "Views", onkeydown: move }, buttons);
  bar.select = (name) => {
    for (const [index, [item]] of items.entries()) {
      const on = item === name;
      buttons[index].setAttribute("aria-selected", String(on));
      buttons[index].tabIndex = on ? 0 : -1;
      if (on) panel.setAttribute("aria-labelledby", buttons[index].id);
    }
  };
  function move(event) {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    const last = buttons.length - 1;
    const next = { ArrowRight: index === last ? 0 : index + 1, ArrowLeft: index === 0 ? last : index - 1, Home: 0, End: last }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    buttons[next].focus();
    buttons[next].click();
  }
  bar.select(selected);
  return bar;
}
