/**
 * A small line chart of one metric's history, drawn as SVG elements (no
 * library, no HTML strings). The points come from `runs/<id>/metric-history`,
 * already downsampled by the server.
 */
import { IMetricHistory } from './tokens';

const SVG = 'http://www.w3.org/2000/svg';

/**
 * An SVG sparkline of `history` in `color`: a polyline over the finite values
 * (NaN and infinities break it), or one dot for a single value.
 *
 * Example: `detail.appendChild(sparkline(history, run.color ?? 'currentColor'))`
 */
export function sparkline(history: IMetricHistory, color: string, width = 220, height = 36): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'nbtrack-Spark');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${history.key}: ${history.points.length} points`);
  const points = history.points.filter(p => typeof p.value === 'number') as {
    step: number;
    value: number;
  }[];
  if (!points.length) {
    return svg;
  }
  const steps = points.map(p => p.step);
  const values = points.map(p => p.value);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  const [y0, y1] = [Math.min(...values), Math.max(...values)];
  const sx = (x: number) => (x1 === x0 ? width / 2 : 2 + ((x - x0) / (x1 - x0)) * (width - 4));
  const sy = (y: number) => (y1 === y0 ? height / 2 : height - 3 - ((y - y0) / (y1 - y0)) * (height - 6));
  if (points.length === 1) {
    const dot = document.createElementNS(SVG, 'circle');
    dot.setAttribute('cx', sx(steps[0]).toFixed(1));
    dot.setAttribute('cy', sy(values[0]).toFixed(1));
    dot.setAttribute('r', '3');
    dot.setAttribute('fill', color);
    svg.appendChild(dot);
    return svg;
  }
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.map(p => `${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', color);
  line.setAttribute('stroke-width', '1.5');
  svg.appendChild(line);
  return svg;
}
