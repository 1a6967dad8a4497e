/**
 * Building DOM from run data. Everything a run carries (names, params, code,
 * error messages) is untrusted: it only ever becomes text nodes, never HTML.
 */

type Child = Node | string | null | undefined | false;

/** `el('div', { class: 'x' }, 'text', other)`; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') {
      node.className = value;
    } else {
      node.setAttribute(name, value);
    }
  }
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.appendChild(
      typeof child === 'string' ? document.createTextNode(child) : child
    );
  }
}

/** Remove every child of `node`. */
export function clear(node: Node): void {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
}

/** A two-column table of key/value pairs; empty when there are none. */
export function keyValueTable(
  rows: [string, string][],
  className = 'nbtrack-KeyValue'
): HTMLTableElement {
  const table = el('table', { class: className });
  for (const [key, value] of rows) {
    // The full key in a tooltip: long keys are cut with an ellipsis.
    table.appendChild(el('tr', {}, el('th', { title: key }, key), el('td', {}, value)));
  }
  return table;
}

export function formatDuration(ms: number | null): string {
  if (ms === null || ms === undefined) {
    return '';
  }
  if (ms < 1000) {
    return `${ms} ms`;
  }
  const seconds = ms / 1000;
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${Math.round(seconds % 60)} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The first 8 characters of a run id: what every view shows (the full id goes in tooltips). */
export function shortId(runId: string): string {
  return runId.slice(0, 8);
}

/**
 * A metric value for an older server that sends no `text`: the same rules as
 * `nbtrack.render.format_number` (NaN as "NaN", infinities as "inf"/"-inf", 4 significant digits).
 */
export function formatValue(value: number | string | null): string {
  if (value === null || value === undefined) {
    return 'NaN';
  }
  if (value === 'Infinity' || value === Infinity) {
    return 'inf';
  }
  if (value === '-Infinity' || value === -Infinity) {
    return '-inf';
  }
  if (typeof value === 'string') {
    return value;
  }
  if (Number.isInteger(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-4 || abs >= 1e4)
    ? value.toExponential(3)
    : String(Number(value.toPrecision(4)));
}

/** A headline metric as "key value", in the server's number format when it sent one. */
export function headlineText(headline: { key: string; value: number | string | null; text?: string } | null): string {
  return headline ? `${headline.key} ${headline.text ?? formatValue(headline.value)}` : '';
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString();
}

export function formatBytes(size: number): string {
  if (size < 1024) {
    return `${size} B`;
  }
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A section's own notice (Models, a run's actions): one line of text, or hidden. Its classes
 * differ from the runs list's notice (`nbtrack-Notice-error`), which says what the list shows.
 * An info line goes away by itself after a few seconds.
 */
export function sectionNotice(): { node: HTMLElement; say: (message: string | null, kind?: 'info' | 'error') => void } {
  const node = el('div', { class: 'nbtrack-Notice nbtrack-SectionNotice', role: 'status' });
  node.hidden = true;
  let timer = 0;
  const say = (message: string | null, kind: 'info' | 'error' = 'info') => {
    window.clearTimeout(timer);
    node.textContent = message ?? '';
    node.className = message === null ? 'nbtrack-Notice nbtrack-SectionNotice' : `nbtrack-Notice nbtrack-SectionNotice nbtrack-SectionNotice-${kind}`;
    node.hidden = message === null;
    if (message !== null && kind === 'info') {
      timer = window.setTimeout(() => say(null), 6000);
    }
  };
  return { node, say };
}
