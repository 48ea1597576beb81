// Building DOM nodes: el("p", { class: "x", text: "…", onclick: fn }, child, …). Null or undefined children are
// skipped; attributes that are false, null or undefined are left out, true sets an empty attribute.
export const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...kids.filter((k) => k !== null && k !== undefined));
  return e;
};

/** The page's status line (errors while loading, what an action did). */
export function status(text) { document.getElementById("status").textContent = text || ""; }
