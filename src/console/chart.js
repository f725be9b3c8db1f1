import { html } from "./ui.js";

const SERIES = [
  ["published", "Published", "var(--blue)"],
  ["delivered", "Delivered", "var(--green)"],
  ["retried", "Retried", "var(--amber)"],
  ["failed", "Failed", "var(--red)"],
];

/** Per-minute lines of the last hour, drawn as SVG (no chart library: four polylines need none). */
export function HourChart({ buckets }) {
  const w = 720;
  const hgt = 200;
  const pad = { l: 36, r: 8, t: 10, b: 22 };
  const max = Math.max(1, ...buckets.flatMap((b) => SERIES.map(([k]) => b[k])));
  const x = (i) => pad.l + (i * (w - pad.l - pad.r)) / Math.max(1, buckets.length - 1);
  const y = (v) => hgt - pad.b - (v * (hgt - pad.t - pad.b)) / max;
  const totals = Object.fromEntries(SERIES.map(([k]) => [k, buckets.reduce((n, b) => n + b[k], 0)]));
  const label = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${w} ${hgt}`} role="img" aria-label="Messages per minute over the last hour">
      ${[0, 0.5, 1].map(
        (f) => html`<g>
          <line x1=${pad.l} x2=${w - pad.r} y1=${y(max * f)} y2=${y(max * f)} class="grid" />
          <text x=${pad.l - 6} y=${y(max * f) + 4} text-anchor="end" class="axis">${Math.round(max * f)}</text>
        </g>`,
      )}
      ${[0, 30, 59].map((i) => buckets[i] && html`<text x=${x(i)} y=${hgt - 6} text-anchor="middle" class="axis">${label(buckets[i].at)}</text>`)}
      ${SERIES.map(
        ([k, , color]) => html`<polyline fill="none" stroke=${color} stroke-width="2" points=${buckets.map((b, i) => `${x(i)},${y(b[k])}`).join(" ")}>
          <title>${k}</title>
        </polyline>`,
      )}
    </svg>
    <figcaption class="legend">
      ${SERIES.map(([k, name, color]) => html`<span><i style=${`background:${color}`}></i>${name} <strong data-total=${k}>${totals[k]}</strong></span>`)}
      <span class="muted">per minute, last hour</span>
    </figcaption>
  </figure>`;
}
