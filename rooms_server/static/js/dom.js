// DOM helpers of the pages. User data only ever goes in as text (textContent) or attributes.

export const $ = (id) => document.getElementById(id);

/** An element with properties, attributes and children (strings become text nodes). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

export function show(el, visible) {
  el.toggleAttribute("hidden", !visible); // an attribute, so that it works on SVG elements too
}

/** A message that clears itself after a while (one per element). */
export function flasher(el, ms = 6000) {
  let timer = null;
  return (message) => {
    el.textContent = message;
    clearTimeout(timer);
    timer = setTimeout(() => (el.textContent = ""), ms);
  };
}
