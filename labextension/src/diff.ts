/**
 * A line diff (longest common subsequence), enough for comparing a cell with
 * an earlier version of itself.
 */

export interface IDiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

/** Cells past this many lines are diffed as "all removed, all added" (LCS is quadratic). */
const MAX_LINES = 2000;

/**
 * Lines of `after` compared with `before`: `removed` lines are only in
 * `before`, `added` only in `after`.
 *
 * Example: `diffLines('a\nb', 'a\nc')` → same a, removed b, added c.
 */
export function diffLines(before: string, after: string): IDiffLine[] {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > MAX_LINES || b.length > MAX_LINES) {
    return [
      ...a.map(text => ({ kind: 'removed' as const, text })),
      ...b.map(text => ({ kind: 'added' as const, text }))
    ];
  }
  // lengths[i][j]: LCS length of a[i:] and b[j:].
  const lengths: Uint32Array[] = [];
  for (let i = 0; i <= a.length; i++) {
    lengths.push(new Uint32Array(b.length + 1));
  }
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i][j] =
        a[i] === b[j]
          ? lengths[i + 1][j + 1] + 1
          : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  const out: IDiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i] });
      i++;
      j++;
    } else if (lengths[i + 1][j] >= lengths[i][j + 1]) {
      out.push({ kind: 'removed', text: a[i++] });
    } else {
      out.push({ kind: 'added', text: b[j++] });
    }
  }
  while (i < a.length) {
    out.push({ kind: 'removed', text: a[i++] });
  }
  while (j < b.length) {
    out.push({ kind: 'added', text: b[j++] });
  }
  return out;
}

/**
 * The source a cell gets when restoring `oldCode`: if the run recorded only
 * the cell body, keep the cell's current `%%track ...` line on top.
 */
export function restoredSource(current: string, oldCode: string): string {
  const firstLine = current.split('\n', 1)[0];
  if (oldCode.trimStart().startsWith('%%') || !firstLine.startsWith('%%track')) {
    return oldCode;
  }
  return `${firstLine}\n${oldCode}`;
}
