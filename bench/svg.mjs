/**
 * @module
 * A small line-plot writer for the benchmark results: axes with ticks, axis labels, a title, a legend and any number of
 * series, as plain SVG text (no dependency). The y axis can be logarithmic, for latencies that span 10 ms to 30 s.
 */

const PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

const escapeXml = (text) =>
  String(text).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;" })[c]);

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten). */
export function linearTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Ticks 1, 2, 5 × 10^k inside [lo, hi] (lo > 0); only powers of ten when the range is wide. */
export function logTicks(lo, hi) {
  const ticks = [];
  const wide = Math.log10(hi / lo) > 4;
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of wide ? [1] : [1, 2, 5]) {
      const t = m * 10 ** k;
      if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(Number(t.toPrecision(12)));
    }
  }
  return ticks;
}

const tickLabel = (v) => (Math.abs(v) >= 10_000 ? `${v / 1000}k` : String(v));

/**
 * Render a line plot.
 * @param {object} plot
 * @param {string} plot.title
 * @param {string} plot.xLabel
 * @param {string} plot.yLabel
 * @param {{name: string, points: [number, number][], color?: string}[]} plot.series points need not be sorted
 * @param {"linear"|"log"} [plot.yScale]
 * @param {number} [plot.width]
 * @param {number} [plot.height]
 * @param {string} [plot.subtitle] a second, smaller line under the title
 * @returns {string} an SVG document
 */
export function linePlot({ title, subtitle, xLabel, yLabel, series, yScale = "linear", width = 900, height = 480 }) {
  // Legend entries per row: three, or fewer when the longest label (about 6.2 px a character at 12 px, its count, the
  // swatch) would run into the next column.
  const longest = Math.max(0, ...series.map((s) => String(s.name).length + 6));
  const columns = Math.max(1, Math.min(3, Math.floor((width - 96) / (longest * 6.2 + 40))));
  const margin = { left: 72, right: 24, top: subtitle ? 58 : 40, bottom: 56 + 20 * Math.ceil(series.length / columns) };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const log = yScale === "log";
  const usable = log ? all.filter(([, y]) => y > 0) : all;

  let [x0, x1] = usable.length ? [Math.min(...usable.map((p) => p[0])), Math.max(...usable.map((p) => p[0]))] : [0, 1];
  let [y0, y1] = usable.length ? [Math.min(...usable.map((p) => p[1])), Math.max(...usable.map((p) => p[1]))] : [0, 1];
  x0 = Math.min(0, x0);
  if (x1 <= x0) x1 = x0 + 1;
  if (log) {
    y0 = 10 ** Math.floor(Math.log10(y0));
    y1 = 10 ** Math.ceil(Math.log10(y1));
    if (y1 <= y0) y1 = y0 * 10;
  } else {
    y0 = Math.min(0, y0);
    if (y1 <= y0) y1 = y0 + 1;
  }
  const xTicks = linearTicks(x0, x1);
  x1 = Math.max(x1, xTicks[xTicks.length - 1]);
  const yTicks = log ? logTicks(y0, y1) : linearTicks(y0, y1);
  if (!log) y1 = Math.max(y1, yTicks[yTicks.length - 1]);

  const sx = (x) => margin.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = log
    ? (y) => margin.top + plotH - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * plotH
    : (y) => margin.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const r = (v) => v.toFixed(1);

  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  if (subtitle) {
    out.push(`<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${escapeXml(subtitle)}</text>`);
  }
  // Grid and ticks.
  for (const t of xTicks) {
    const x = r(sx(t));
    out.push(
      `<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotH}" stroke="#eee"/>`,
      `<text x="${x}" y="${margin.top + plotH + 16}" text-anchor="middle">${tickLabel(t)}</text>`,
    );
  }
  for (const t of yTicks) {
    const y = r(sy(t));
    out.push(
      `<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#eee"/>`,
      `<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`,
    );
  }
  // Axes and their labels.
  out.push(
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${margin.top + plotH}" stroke="#000"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="#000"/>`,
    `<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 36}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}${log ? " (log scale)" : ""}</text>`,
  );
  // Series: a polyline through the points in x order, plus a dot per point.
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const points = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0))
      .sort((a, b) => a[0] - b[0]);
    if (points.length > 0) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.2" stroke-opacity="0.8" points="${points.map(([x, y]) => `${r(sx(x))},${r(sy(y))}`).join(" ")}"/>`,
        `<g fill="${color}">${points.map(([x, y]) => `<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="1.8"/>`).join("")}</g>`,
      );
    }
    // Legend: `columns` entries a row under the x label.
    const lx = margin.left + (i % columns) * (plotW / columns);
    const ly = margin.top + plotH + 56 + 20 * Math.floor(i / columns);
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)} (${points.length})</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
