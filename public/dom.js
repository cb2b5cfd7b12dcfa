/**
 * A tiny element builder. Text always goes in as text nodes (never innerHTML), so data
 * from the API cannot inject markup.
 */

/**
 * Creates an element. `attrs`: `class`, `text`, `dataset`, `on` (event listeners),
 * boolean and string attributes (`aria-*`, `hidden`, `disabled`...), and DOM properties
 * for `value` and `checked`. Children: nodes, strings, numbers, arrays; null/false skipped.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = String(value);
    else if (name === 'text') el.textContent = String(value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'on') {
      for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    } else if (name === 'value' || name === 'checked') el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, text, nested arrays) to `el`. */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Announces a short message to screen readers, and shows it briefly as a toast. */
export function announce(message) {
  const region = document.getElementById('announcer');
  const toast = document.getElementById('toast');
  if (region) {
    region.textContent = '';
    // Setting the text after a tick makes screen readers announce a repeated message too.
    setTimeout(() => {
      region.textContent = message;
    }, 30);
  }
  if (toast) {
    toast.textContent = message;
    toast.classList.add('toast-visible');
    clearTimeout(announce.timer);
    announce.timer = setTimeout(() => toast.classList.remove('toast-visible'), 3000);
  }
}
