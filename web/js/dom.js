// Small DOM helpers shared by the pages. Elements are built with properties and text nodes,
// never from HTML strings, so names and chat lines cannot inject markup.

/** The element with this id (the pages define every id they use). */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

/**
 * Builds an element. `props` keys starting with `data-` or `aria-`, and `role`, `for`, `type`,
 * become attributes; `class` sets the class list; `on` maps event names to listeners; other
 * keys are set as properties (`textContent`, `disabled`, ...).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'on') for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
    else if (key.startsWith('data-') || key.startsWith('aria-') || ['role', 'for', 'type', 'title'].includes(key)) {
      node.setAttribute(key, value === true ? '' : String(value));
    } else node[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replaces every child of `node`. */
export function replaceChildren(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** Sets a text and shows the element, or hides it when the text is empty. */
export function showText(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

/** Tells screen-reader users what just happened, through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region || !text) return;
  // Clearing first makes a repeated message be read again.
  region.textContent = '';
  window.setTimeout(() => { region.textContent = text; }, 30);
}
