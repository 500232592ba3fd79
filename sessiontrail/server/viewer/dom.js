// Building the page from data without ever parsing it as HTML: every string a
// session holds reaches the page as text, so a message cannot run script.

/** An element with attributes (on* keys become listeners) and children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

/** Children (nodes, strings, nested lists; null skipped) added in order. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** The element emptied, then filled with `children`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** A time as the reader's locale shows it, with the exact value as a tooltip. */
export function when(iso) {
  const date = new Date(iso);
  return h("time", { datetime: iso, title: iso }, date.toLocaleString());
}
