/**
 * The training charts (d3 scales and axes into SVG; colours resolved from the theme so exported files look the same):
 * the loss chart (train / val per run, target lines, growth markers, hover readout) and the small LR and tokens/s
 * charts.
 */
import { axisBottom, axisLeft, line, pointer, ScaleContinuousNumeric, scaleLinear, scaleLog, select, Selection } from 'd3';
import type { XAxis } from '../../src/shared/trainingProtocol';
import type { Theme } from '../shared/theme';
import { decimate, extentOf, formatAxisNumber, growModeText, nearest, RunSeries, XY } from './model';

export interface ChartRun {
  id: string;
  label: string;
  color: string;
  series: RunSeries;
}

export interface LossChartOptions {
  width: number;
  height: number;
  theme: Theme;
  axis: XAxis;
  logY: boolean;
  showTrain: boolean;
  showVal: boolean;
  /** Draw the unsmoothed train loss faintly behind the smoothed one. */
  showRaw: boolean;
  onHover?: (e: { clientX: number; clientY: number; x: number; rows: HoverRow[] } | undefined) => void;
}

export interface HoverRow {
  label: string;
  color: string;
  train?: number;
  val?: number;
  layers?: number;
}

type Svg = Selection<SVGSVGElement, unknown, null, undefined>;
type G = Selection<SVGGElement, unknown, null, undefined>;
type YScale = ScaleContinuousNumeric<number, number>;

const SVG_NS = 'http://www.w3.org/2000/svg';

export function newSvg(cls: string, label: string): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', cls);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  return svg;
}

function frame(el: SVGSVGElement, width: number, height: number, theme: Theme): Svg {
  const svg = select(el);
  svg.selectAll('*').remove();
  svg.attr('width', width).attr('height', height).attr('viewBox', `0 0 ${width} ${height}`);
  svg.attr('font-family', theme.fontFamily).attr('font-size', Math.max(10, theme.fontSize - 2));
  // Transparent in the panel (the page background shows); opaque in exported files.
  svg
    .append('rect')
    .attr('class', 'export-bg')
    .attr('width', width)
    .attr('height', height)
    .attr('fill', theme.background)
    .attr('opacity', 0);
  return svg;
}

function styleAxis(g: G, theme: Theme): void {
  g.selectAll('path.domain').attr('stroke', theme.border);
  g.selectAll('.tick line').attr('stroke', theme.border);
  g.selectAll('.tick text').attr('fill', theme.muted);
}

/** The step (or token) scale of a plot `iw` wide; a single x value gets a unit of room on each side. */
function xScale(ext: [number, number], iw: number): ScaleContinuousNumeric<number, number> {
  return scaleLinear()
    .domain(ext[0] === ext[1] ? [ext[0] - 1, ext[1] + 1] : ext)
    .range([0, iw]);
}

/** The x axis along the bottom of a plot `ih` high: about one tick per 90 px, compact numbers. */
function xAxis(g: G, x: ScaleContinuousNumeric<number, number>, iw: number, ih: number, theme: Theme): void {
  const ax = g
    .append('g')
    .attr('transform', `translate(0,${ih})`)
    .call(
      axisBottom(x)
        .ticks(Math.max(2, Math.floor(iw / 90)))
        .tickFormat((d) => formatAxisNumber(Number(d))),
    );
  styleAxis(ax, theme);
}

function grid(g: G, y: YScale, x0: number, x1: number, ticks: number, theme: Theme): void {
  g.append('g')
    .attr('class', 'grid')
    .selectAll('line')
    .data(y.ticks(ticks))
    .join('line')
    .attr('x1', x0)
    .attr('x2', x1)
    .attr('y1', (d) => y(d))
    .attr('y2', (d) => y(d))
    .attr('stroke', theme.grid)
    .attr('stroke-opacity', 0.35)
    .attr('shape-rendering', 'crispEdges');
}

function yScale(domain: [number, number], range: [number, number], log: boolean): YScale {
  if (log && domain[0] > 0) return scaleLog().domain(domain).range(range).nice();
  const pad = (domain[1] - domain[0]) * 0.05 || Math.abs(domain[0]) * 0.05 || 1;
  return scaleLinear()
    .domain([domain[0] - pad, domain[1] + pad])
    .range(range)
    .nice();
}

const pathOf = (x: (v: number) => number, y: (v: number) => number) =>
  line<XY>()
    .defined((d) => Number.isFinite(d.y) && Number.isFinite(y(d.y)))
    .x((d) => x(d.x))
    .y((d) => y(d.y));

/** The loss chart. Returns the x domain used (undefined when nothing could be drawn). */
export function drawLossChart(el: SVGSVGElement, runs: ChartRun[], o: LossChartOptions): [number, number] | undefined {
  const { theme, width, height } = o;
  const svg = frame(el, width, height, theme);
  const m = { top: 46, right: 18, bottom: 38, left: 56 };
  const iw = Math.max(10, width - m.left - m.right);
  const ih = Math.max(10, height - m.top - m.bottom);
  const ys: XY[][] = [];
  const xs: XY[][] = [];
  for (const r of runs) {
    if (o.showTrain) ys.push(o.showRaw ? r.series.trainRaw : r.series.train);
    if (o.showVal) ys.push(r.series.val);
    xs.push(r.series.trainRaw, r.series.val);
  }
  const targets = runs.map((r) => r.series.target).filter((t): t is number => t !== undefined);
  const xExt = extentOf(xs, 'x');
  let yExt = extentOf(ys, 'y', o.logY);
  if (yExt && targets.length) yExt = [Math.min(yExt[0], ...targets), Math.max(yExt[1], ...targets)];
  const axisLabel = o.axis === 'step' ? 'Step' : 'Tokens';
  if (!xExt || !yExt) {
    svg
      .append('text')
      .attr('x', width / 2)
      .attr('y', height / 2)
      .attr('text-anchor', 'middle')
      .attr('fill', theme.muted)
      .text(
        o.axis === 'tokens' && runs.length && runs.every((r) => !r.series.hasTokens)
          ? 'These logs have no token counts: switch the x axis to steps.'
          : 'No loss values yet.',
      );
    return undefined;
  }
  const x = xScale(xExt, iw);
  const y = yScale(yExt, [ih, 0], o.logY);
  const g = svg.append('g').attr('transform', `translate(${m.left},${m.top})`);
  grid(g, y, 0, iw, 6, theme);
  xAxis(g, x, iw, ih, theme);
  const ay = g.append('g').call(
    axisLeft(y)
      .ticks(6)
      .tickFormat((d) => String(Number(Number(d).toPrecision(4)))),
  );
  styleAxis(ay, theme);
  g.append('text')
    .attr('x', iw / 2)
    .attr('y', ih + 32)
    .attr('text-anchor', 'middle')
    .attr('fill', theme.muted)
    .text(axisLabel);
  g.append('text')
    .attr('transform', `translate(${-44},${ih / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .attr('fill', theme.muted)
    .text(o.logY ? 'Loss (log)' : 'Loss');

  const clipId = `clip-${Math.random().toString(36).slice(2, 8)}`;
  g.append('clipPath').attr('id', clipId).append('rect').attr('width', iw).attr('height', ih);
  const plot = g.append('g').attr('clip-path', `url(#${clipId})`);
  const buckets = Math.max(50, Math.floor(iw));

  // Growth markers: a vertical line per growth, labelled with the new depth. Runs that grew at the same point to the
  // same depth (the usual case when comparing inits on one schedule) share one neutral marker.
  const markers = new Map<string, { x: number; layers: number; fromLayers?: number; step: number; mode?: string; runs: ChartRun[] }>();
  for (const r of runs) {
    for (const gm of r.series.growth) {
      const key = `${gm.x}:${gm.layers}`;
      const m0 = markers.get(key);
      if (m0) m0.runs.push(r);
      else markers.set(key, { ...gm, runs: [r] });
    }
  }
  const labelCount = new Map<number, number>();
  for (const gm of markers.values()) {
    const gx = x(gm.x);
    if (gx < 0 || gx > iw) continue;
    const color = gm.runs.length > 1 ? theme.muted : gm.runs[0].color;
    const stack = labelCount.get(Math.round(gx)) ?? 0;
    labelCount.set(Math.round(gx), stack + 1);
    g.append('line')
      .attr('class', 'growth')
      .attr('x1', gx)
      .attr('x2', gx)
      .attr('y1', -4)
      .attr('y2', ih)
      .attr('stroke', color)
      .attr('stroke-opacity', 0.75)
      .attr('stroke-dasharray', '2 3');
    g.append('text')
      .attr('x', gx + 3)
      .attr('y', -6 - stack * 12)
      .attr('fill', color)
      .attr('font-weight', 600)
      .attr('class', 'growth-label')
      .text(
        markers.size <= 2 && gm.mode ? `${gm.layers} layers · ${growModeText(gm.mode)}` : `${gm.layers}L${gm.mode ? ` · ${gm.mode}` : ''}`,
      )
      .append('title')
      .text(
        `${gm.runs.map((r) => r.label).join(', ')}: grew ${gm.fromLayers !== undefined ? `${gm.fromLayers} → ` : 'to '}${gm.layers} layers at step ${gm.step}${gm.mode ? ` (${growModeText(gm.mode)})` : ''}`,
      );
  }
  // Target lines (one per distinct value; labelled at the left end, where the curves are usually still above it).
  const seen = new Set<string>();
  for (const r of runs) {
    const t = r.series.target;
    if (t === undefined || (o.logY && t <= 0)) continue;
    const key = t.toPrecision(6);
    const shared = runs.filter((q) => q.series.target !== undefined && q.series.target.toPrecision(6) === key).length > 1;
    if (seen.has(key)) continue;
    seen.add(key);
    const ty = y(t);
    const color = shared || runs.length === 1 ? theme.foreground : r.color;
    g.append('line')
      .attr('class', 'target')
      .attr('x1', 0)
      .attr('x2', iw)
      .attr('y1', ty)
      .attr('y2', ty)
      .attr('stroke', color)
      .attr('stroke-opacity', 0.8)
      .attr('stroke-dasharray', '6 4');
    g.append('text')
      .attr('x', 6)
      .attr('y', ty + 14)
      .attr('fill', color)
      .text(`target ${t.toFixed(3)}`);
  }
  for (const r of runs) {
    if (o.showTrain) {
      if (o.showRaw && r.series.trainRaw.length) {
        plot
          .append('path')
          .attr('d', pathOf(x, y)(decimate(r.series.trainRaw, buckets)))
          .attr('fill', 'none')
          .attr('stroke', r.color)
          .attr('stroke-opacity', 0.22)
          .attr('stroke-width', 1);
      }
      plot
        .append('path')
        .attr('class', 'train')
        .attr('d', pathOf(x, y)(decimate(r.series.train, buckets)))
        .attr('fill', 'none')
        .attr('stroke', r.color)
        .attr('stroke-width', 1.5)
        .attr('stroke-opacity', 0.85);
    }
    if (o.showVal && r.series.val.length) {
      const vals = decimate(r.series.val, buckets);
      plot
        .append('path')
        .attr('class', 'val')
        .attr('d', pathOf(x, y)(vals))
        .attr('fill', 'none')
        .attr('stroke', r.color)
        .attr('stroke-width', 2.25)
        .attr('stroke-dasharray', '7 3');
      if (vals.length <= 200) {
        plot
          .append('g')
          .selectAll('circle')
          .data(vals)
          .join('circle')
          .attr('cx', (d) => x(d.x))
          .attr('cy', (d) => y(d.y))
          .attr('r', 3)
          .attr('fill', theme.background)
          .attr('stroke', r.color)
          .attr('stroke-width', 1.75);
      }
    }
  }
  // Each round's starting val loss (the inherited / grown model before training): a filled diamond, labelled.
  for (const r of runs) {
    if (!o.showVal) break;
    for (const s of r.series.roundStarts) {
      const sx = x(s.x);
      const sy = y(s.y);
      if (!(sx >= 0 && sx <= iw && sy >= 0 && sy <= ih)) continue;
      const mk = g.append('g').attr('class', 'round-start').attr('transform', `translate(${sx},${sy})`);
      mk.append('path').attr('d', 'M0,-5L5,0L0,5L-5,0Z').attr('fill', r.color).attr('stroke', theme.background).attr('stroke-width', 1);
      mk.append('text')
        .attr('x', 7)
        .attr('y', -6)
        .attr('fill', r.color)
        .attr('font-size', Math.max(9, theme.fontSize - 3))
        .text(`round ${s.round ?? ''} start ${s.y.toFixed(2)}`.replace('round  ', 'round '));
      mk.append('title').text(`${r.label}: round ${s.round ?? '?'} (${s.layers ?? '?'} layers) starts at val loss ${s.y.toFixed(4)}`);
    }
  }
  drawLegend(svg, runs, o, m.left, width - m.right);

  // Hover: a vertical rule and the values of every run nearest to it.
  const rule = g
    .append('line')
    .attr('class', 'overlay')
    .attr('y1', 0)
    .attr('y2', ih)
    .attr('stroke', theme.muted)
    .attr('stroke-opacity', 0)
    .attr('pointer-events', 'none');
  g.append('rect')
    .attr('class', 'hover-target')
    .attr('width', iw)
    .attr('height', ih)
    .attr('fill', 'transparent')
    .on('pointermove', (ev: PointerEvent) => {
      const [px] = pointer(ev);
      const xv = x.invert(px);
      const rows: HoverRow[] = runs.map((r) => {
        const t = nearest(r.series.train, xv);
        const v = nearest(r.series.val, xv);
        const layersAt = [...r.series.growth].reverse().find((gm) => gm.x <= xv)?.layers;
        return { label: r.label, color: r.color, train: t?.y, val: v?.y, layers: layersAt };
      });
      rule.attr('x1', px).attr('x2', px).attr('stroke-opacity', 0.6);
      o.onHover?.({ clientX: ev.clientX, clientY: ev.clientY, x: xv, rows });
    })
    .on('pointerleave', () => {
      rule.attr('stroke-opacity', 0);
      o.onHover?.(undefined);
    });
  return x.domain() as [number, number];
}

function drawLegend(svg: Svg, runs: ChartRun[], o: LossChartOptions, left: number, right: number): void {
  const { theme } = o;
  const g = svg.append('g').attr('class', 'legend').attr('transform', `translate(${left},14)`);
  let cx = 0;
  const item = (draw: (s: G) => void, text: string, color: string) => {
    const s = g.append('g').attr('transform', `translate(${cx},0)`);
    draw(s);
    const t = s.append('text').attr('x', 24).attr('y', 4).attr('fill', color).text(text);
    const w = (t.node()?.getComputedTextLength?.() || text.length * 6.5) + 46;
    cx += w;
  };
  if (runs.length > 1 || runs.some((r) => r.label)) {
    for (const r of runs)
      item(
        (s) => s.append('rect').attr('x', 4).attr('y', -4).attr('width', 14).attr('height', 8).attr('rx', 2).attr('fill', r.color),
        r.label,
        theme.foreground,
      );
  }
  const ink = theme.muted;
  if (o.showTrain) item((s) => s.append('line').attr('x1', 0).attr('x2', 20).attr('stroke', ink).attr('stroke-width', 1.5), 'train', ink);
  if (o.showVal) {
    item(
      (s) => {
        s.append('line').attr('x1', 0).attr('x2', 20).attr('stroke', ink).attr('stroke-width', 2.25).attr('stroke-dasharray', '7 3');
        s.append('circle').attr('cx', 10).attr('r', 3).attr('fill', theme.background).attr('stroke', ink).attr('stroke-width', 1.5);
      },
      'val',
      ink,
    );
  }
  if (runs.some((r) => r.series.target !== undefined))
    item((s) => s.append('line').attr('x1', 0).attr('x2', 20).attr('stroke', ink).attr('stroke-dasharray', '6 4'), 'target', ink);
  if (runs.some((r) => r.series.growth.length))
    item(
      (s) =>
        s.append('line').attr('x1', 10).attr('x2', 10).attr('y1', -6).attr('y2', 6).attr('stroke', ink).attr('stroke-dasharray', '2 3'),
      'growth (new depth)',
      ink,
    );
  void right;
}

export interface SmallChartOptions {
  width: number;
  height: number;
  theme: Theme;
  title: string;
  format: (v: number) => string;
  /** Shared with the loss chart, so the three line up. */
  xDomain?: [number, number];
}

export function drawSmallChart(el: SVGSVGElement, lines: { color: string; xy: XY[] }[], o: SmallChartOptions): void {
  const { theme, width, height } = o;
  const svg = frame(el, width, height, theme);
  const m = { top: 22, right: 14, bottom: 24, left: 56 };
  const iw = Math.max(10, width - m.left - m.right);
  const ih = Math.max(10, height - m.top - m.bottom);
  svg.append('text').attr('x', m.left).attr('y', 14).attr('fill', theme.foreground).attr('font-weight', 600).text(o.title);
  const xExt =
    o.xDomain ??
    extentOf(
      lines.map((l) => l.xy),
      'x',
    );
  const yExt = extentOf(
    lines.map((l) => l.xy),
    'y',
  );
  if (!xExt || !yExt) {
    svg
      .append('text')
      .attr('x', width / 2)
      .attr('y', height / 2 + 6)
      .attr('text-anchor', 'middle')
      .attr('fill', theme.muted)
      .text('no data');
    return;
  }
  const x = xScale(xExt, iw);
  const y = scaleLinear()
    .domain([Math.min(0, yExt[0]), yExt[1] === Math.min(0, yExt[0]) ? yExt[1] + 1 : yExt[1]])
    .range([ih, 0])
    .nice();
  const g = svg.append('g').attr('transform', `translate(${m.left},${m.top})`);
  grid(g, y, 0, iw, 3, theme);
  xAxis(g, x, iw, ih, theme);
  styleAxis(
    g.append('g').call(
      axisLeft(y)
        .ticks(3)
        .tickFormat((d) => o.format(Number(d))),
    ),
    theme,
  );
  const clipId = `clip-${Math.random().toString(36).slice(2, 8)}`;
  g.append('clipPath').attr('id', clipId).append('rect').attr('width', iw).attr('height', ih);
  const plot = g.append('g').attr('clip-path', `url(#${clipId})`);
  const buckets = Math.max(50, Math.floor(iw));
  for (const l of lines) {
    plot
      .append('path')
      .attr('d', pathOf(x, y)(decimate(l.xy, buckets)))
      .attr('fill', 'none')
      .attr('stroke', l.color)
      .attr('stroke-width', 1.5);
  }
}
