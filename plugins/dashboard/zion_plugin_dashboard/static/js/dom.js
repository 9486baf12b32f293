// Building DOM nodes without HTML strings: text always goes in as text nodes, so data
// from the node (worker names, addresses, hashes) can never become markup.

const SAFE_HREF = /^#/; // in-page links only

/**
 * Create an element: h("td", {class: "num", dataset: {field: "x"}}, "text", child, ...).
 * Props: "class", "dataset" (an object), "on<event>" (a function), "href" (in-site
 * links only), booleans (true sets an empty attribute), anything else as an attribute.
 * Children: nodes, strings, numbers, arrays of them; null, undefined and false are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      for (const [name, data] of Object.entries(value)) {
        if (data !== null && data !== undefined) el.dataset[name] = String(data);
      }
    } else if (key.startsWith("on")) {
      if (typeof value === "function") el.addEventListener(key.slice(2), value);
    } else if (key === "href") {
      if (SAFE_HREF.test(String(value))) el.setAttribute("href", String(value));
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children (see h) to an element. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace every child of an element. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Set an element's text (never markup); a missing element is ignored. */
export function setText(el, text) {
  if (el) el.textContent = text === null || text === undefined ? "" : String(text);
}
