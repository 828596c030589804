/**
 * Layer × head heatmap (layers on x so it lines up with the per-layer chart; heads on y), with the lazy-layer strip,
 * a colour legend, hover/keyboard tooltips and selection. Compare mode stacks two blocks on one colour scale.
 * Colours are concrete values from the theme, so the serialized SVG is self-contained.
 *
 * Drawing is a sequence of named steps: layout (geometry and block heights), root, per block (title, rank-1 counts,
 * lazy strip, cells, lazy runs, axes), axis styling, legend, then interactions (hover, click, keyboard cursor).
 */
import { axisBottom, axisLeft, axisRight, format, range, scaleBand, scaleLinear, scaleLog, type ScaleBand, type Selection } from 'd3';
import { isRankOne, type AnalysisReport } from '../../../src/shared/report';
import type { HeadMetric, HeadSelection, Side } from '../../../src/shared/protocol';
import { HEAD_METRICS, hasRankOneColor, metricColor, rankOneColor } from '../../shared/colorScale';
import { Cursor, heatmapGeometry, heatmapModel, HeatmapGeometry, lazyRuns, moveCursor, type HeatmapModel } from '../../shared/heatmapModel';
import { isLightKind, Theme, textOn } from '../../shared/theme';
import { Tooltip } from '../../shared/dom';
import { boundedReason, boundsLegendLabel, exactUpTo, kStarInterval } from '../../shared/kStarBounds';
import { chartRoot } from './svgRoot';
import { formatKStarBounds, formatMetric, headTooltip } from './text';

export interface HeatmapEntry {
  side: Side;
  label: string;
  report: AnalysisReport;
}

export interface HeatmapOptions {
  theme: Theme;
  entries: HeatmapEntry[];
  metric: HeadMetric;
  domain: [number, number];
  width: number;
  selected?: HeadSelection;
  tooltip: Tooltip;
  onSelect: (sel: HeadSelection) => void;
  /** Screen-reader announcement of the keyboard cursor. */
  announce: (text: string) => void;
}

const STRIP_H = 7;
const TITLE_H = 22;
/** The row of per-layer rank-1 head counts above the lazy strip. */
const COUNT_H = 13;
const TOP = 8;
/** The legend row under the blocks for hatched (bounded) k* cells. */
const BOUNDS_H = 22;

export interface HeatmapHandle {
  svg: SVGSVGElement;
  geometry: HeatmapGeometry;
  /** Move the selection outline (none: hide it). */
  setSelected(sel: HeadSelection | undefined): void;
}

type Svg = Selection<SVGSVGElement, unknown, null, undefined>;
type G = Selection<SVGGElement, unknown, null, undefined>;
/** Cell rects by "side:layer:head". */
type CellRects = Map<string, SVGRectElement>;

interface Block {
  e: HeatmapEntry;
  model: HeatmapModel;
  height: number;
}

interface Layout {
  g: HeatmapGeometry;
  blocks: Block[];
  height: number;
  compare: boolean;
  color: (v: number) => string;
  /** Some cell is a k* shown as bounds (metric k*): hatched, with a legend row under the blocks. */
  bounded: boolean;
  /** The id of the hatch pattern with stripes in this colour (made on first use, in the SVG's defs). */
  hatch: (stroke: string) => string;
}

export function drawHeatmap(container: HTMLElement, o: HeatmapOptions): HeatmapHandle {
  const layout = layoutHeatmap(o);
  const svg = heatmapRoot(layout, o);
  layout.hatch = hatchPatterns(svg);
  const cells: CellRects = new Map();
  let y0 = TOP;
  for (const b of layout.blocks) {
    drawBlock(svg, b, y0, layout, o, cells);
    y0 += b.height + (layout.compare ? 8 : 0);
  }
  styleAxes(svg, o.theme);
  drawLegend(svg, layout, o);
  if (layout.bounded) drawBoundsLegend(svg, layout, o);
  const setSelected = bindInteractions(svg, cells, layout, o);
  const node = svg.node()!;
  container.append(node);
  return { svg: node, geometry: layout.g, setSelected };
}

/** Columns and rows of the heatmap at a width (the per-layer chart lines its layers up with these columns). */
export function geometryFor(entries: HeatmapEntry[], width: number): HeatmapGeometry {
  const maxLayers = Math.max(...entries.map((e) => e.report.layers.length));
  const maxHeads = Math.max(...entries.map((e) => e.report.model.numHeads || e.report.layers[0]?.heads.length || 1));
  return heatmapGeometry(width, maxLayers, maxHeads);
}

/** Step 1: geometry (cell size from the width), the colour scale and each block's height. */
function layoutHeatmap(o: HeatmapOptions): Layout {
  const { entries, metric } = o;
  const g = geometryFor(entries, o.width);
  const compare = entries.length > 1;
  const blocks = entries.map((e) => {
    const model = heatmapModel(e.report, metric);
    return { e, model, height: (compare ? TITLE_H : 0) + COUNT_H + STRIP_H + 6 + model.numHeads * g.cellH + 34 };
  });
  const bounded = blocks.some((b) => b.model.cells.some((c) => c.bounds));
  const height = TOP + blocks.reduce((a, b) => a + b.height, 0) + (compare ? 8 * (blocks.length - 1) : 0) + (bounded ? BOUNDS_H : 0);
  const noHatch = () => {
    throw new Error('hatch patterns are made once the SVG exists');
  };
  return { g, blocks, height, compare, color: metricColor(o.theme, metric, o.domain), bounded, hatch: noHatch };
}

/**
 * Diagonal stripes over a bounded cell's colour (the colour of its lower end), one pattern per stripe colour: the
 * theme's foreground or background, whichever reads on the cell (as the cell's text does). Concrete colours in the
 * SVG's own defs, so an exported SVG or PNG carries the mark.
 */
function hatchPatterns(svg: Svg): (stroke: string) => string {
  const ids = new Map<string, string>();
  const suffix = Math.random().toString(36).slice(2, 8);
  let defs: Selection<SVGDefsElement, unknown, null, undefined> | undefined;
  return (stroke) => {
    let id = ids.get(stroke);
    if (id) return id;
    id = `hatch-${ids.size}-${suffix}`;
    ids.set(stroke, id);
    defs ??= svg.append('defs').attr('class', 'hatch-defs');
    const p = defs
      .append('pattern')
      .attr('id', id)
      .attr('patternUnits', 'userSpaceOnUse')
      .attr('width', 5)
      .attr('height', 5)
      .attr('patternTransform', 'rotate(45)');
    p.append('line')
      .attr('x1', 0)
      .attr('y1', 0)
      .attr('x2', 0)
      .attr('y2', 5)
      .attr('stroke', stroke)
      .attr('stroke-width', 1.6)
      .attr('stroke-opacity', 0.7);
    return id;
  };
}

/** Step 2: the SVG root, one tab stop with its description, and the export background. */
function heatmapRoot({ g, height, compare, bounded }: Layout, o: HeatmapOptions): Svg {
  const svg = chartRoot('chart heatmap', g.width, height, o.theme)
    .attr('tabindex', 0)
    .attr('role', 'application')
    .attr('aria-roledescription', 'heatmap')
    .attr(
      'aria-label',
      `${HEAD_METRICS[o.metric].label} of every head, layers left to right, heads top to bottom` +
        `${compare ? `, ${o.entries.map((e) => e.label).join(' above ')}` : ''}.` +
        `${bounded ? ` Striped cells: ${boundsLegendLabel(o.entries)}, coloured by the lower end.` : ''}` +
        ` Arrow keys move, Enter opens the head's attention matrix.`,
    );
  svg
    .append('rect')
    .attr('class', 'export-bg')
    .attr('width', g.width)
    .attr('height', height)
    .attr('fill', o.theme.background)
    .attr('opacity', 0);
  return svg;
}

/** Step 3: one model's block, top to bottom. */
function drawBlock(svg: Svg, { e, model }: Block, y0: number, layout: Layout, o: HeatmapOptions, cells: CellRects): void {
  const { g } = layout;
  const block = svg.append('g').attr('class', `block block-${e.side}`).attr('data-side', e.side) as G;
  let y = y0;
  if (layout.compare) {
    drawBlockTitle(block, e, y, g, o.theme);
    y += TITLE_H;
  }
  const x = scaleBand<number>()
    .domain(model.layers)
    .range([g.left, g.left + model.layers.length * g.cellW]);
  drawRankOneCounts(block, e.report, x, y, g, o.theme);
  y += COUNT_H;
  const cellsTop = y + STRIP_H + 6;
  const yh = scaleBand<number>()
    .domain(range(model.numHeads))
    .range([cellsTop, cellsTop + model.numHeads * g.cellH]);
  const lazySet = new Set(model.lazyLayers);
  drawLazyStrip(block, model, lazySet, x, y, g, o.theme);
  drawCells(block, e, model, x, yh, layout, o, cells);
  drawLazyRuns(block, model, x, y, g, o.theme);
  drawBlockAxes(block, model, lazySet, x, yh, cellsTop, g, o.theme);
}

function drawBlockTitle(block: G, e: HeatmapEntry, y: number, g: HeatmapGeometry, theme: Theme): void {
  block
    .append('text')
    .attr('class', 'block-title')
    .attr('x', g.left)
    .attr('y', y + 14)
    .attr('font-size', 12)
    .attr('font-weight', 600)
    .attr('fill', theme.foreground)
    .text(`${e.side.toUpperCase()} · ${e.label}`);
  block
    .append('text')
    .attr('x', g.left + g.plotW)
    .attr('y', y + 14)
    .attr('text-anchor', 'end')
    .attr('fill', theme.muted)
    .text(`${e.report.model.numLayers} layers × ${e.report.model.numHeads} heads`);
}

/** Rank-1 heads (k* = 1) per layer, beside the lazy flag: how close a layer that is not lazy comes to it. */
function drawRankOneCounts(block: G, report: AnalysisReport, x: ScaleBand<number>, y: number, g: HeatmapGeometry, theme: Theme): void {
  const rankOne = rankOneColor(theme);
  const counts = report.layers.map((l) => ({ layer: l.index, n: l.heads.filter((hd) => isRankOne(hd.kStar)).length, of: l.heads.length }));
  block
    .append('text')
    .attr('x', g.left - 8)
    .attr('y', y + 9)
    .attr('text-anchor', 'end')
    .attr('font-size', 10)
    .attr('fill', theme.muted)
    .text('k*=1');
  block
    .append('g')
    .attr('class', 'rank1-counts')
    .selectAll('text')
    .data(counts)
    .join('text')
    .attr('class', 'rank1-count')
    .attr('data-layer', (c) => c.layer)
    .attr('data-count', (c) => c.n)
    .attr('x', (c) => x(c.layer)! + g.cellW / 2)
    .attr('y', y + 9)
    .attr('text-anchor', 'middle')
    .attr('font-size', g.cellW >= 14 ? 10 : 8)
    .attr('font-weight', (c) => (c.n ? 600 : 400))
    .attr('fill', (c) => (c.n ? (isLightKind(theme.kind) ? theme.foreground : rankOne) : theme.muted))
    .text((c) => (c.n ? String(c.n) : g.cellW >= 14 ? '·' : ''))
    .append('title')
    .text((c) => `Layer ${c.layer}: ${c.n} of ${c.of} heads have k* = 1 (rank 1)`);
}

/** Lazy strip: one mark per layer, orange where the layer is lazy. */
function drawLazyStrip(
  block: G,
  model: HeatmapModel,
  lazySet: Set<number>,
  x: ScaleBand<number>,
  y: number,
  g: HeatmapGeometry,
  theme: Theme,
): void {
  block
    .append('text')
    .attr('x', g.left - 8)
    .attr('y', y + STRIP_H - 0.5)
    .attr('text-anchor', 'end')
    .attr('font-size', 10)
    .attr('fill', model.lazyLayers.length ? theme.warning : theme.muted)
    .text('lazy');
  block
    .append('g')
    .attr('class', 'lazy-strip')
    .selectAll('rect')
    .data(model.layers)
    .join('rect')
    .attr('class', (l) => `lazy-mark${lazySet.has(l) ? ' lazy' : ''}`)
    .attr('data-layer', (l) => l)
    .attr('x', (l) => x(l)! + 0.5)
    .attr('y', y)
    .attr('width', Math.max(1, g.cellW - 1))
    .attr('height', STRIP_H)
    .attr('rx', 1.5)
    .attr('fill', (l) => (lazySet.has(l) ? theme.warning : theme.grid))
    .attr('fill-opacity', (l) => (lazySet.has(l) ? 1 : 0.35))
    .append('title')
    .text((l) => (lazySet.has(l) ? `Layer ${l}: lazy (every head degenerate)` : `Layer ${l}: not lazy`));
}

/**
 * Cells: built as one markup string (numbers and colours we computed, nothing from outside: no token text), which
 * is several times faster than a d3 join for a thousand-odd rects; events are delegated to the SVG. Values are
 * written inside the cells when they are large enough to read.
 */
function drawCells(
  block: G,
  e: HeatmapEntry,
  model: HeatmapModel,
  x: ScaleBand<number>,
  yh: ScaleBand<number>,
  layout: Layout,
  o: HeatmapOptions,
  cells: CellRects,
): void {
  const { g, color } = layout;
  const theme = o.theme;
  const cellW = Math.max(1, g.cellW - 1);
  const cellH = Math.max(1, g.cellH - 1);
  const rx = g.cellW >= 16 ? 2 : 1;
  const stroke = theme.contrastBorder ? ` stroke="${theme.contrastBorder}" stroke-width="0.5"` : '';
  const fills = model.cells.map((c) => color(c.value));
  let markup = '';
  let hatches = '';
  model.cells.forEach((c, i) => {
    const cx = x(c.layer)! + 0.5;
    const cy = yh(c.head)! + 0.5;
    // A bounded k*: drawn in the colour of its lower end, under stripes (never as if that end were exact).
    const bounded = c.bounds ? ` data-bounded="true" data-lo="${c.bounds[0]}" data-hi="${c.bounds[1]}"` : '';
    markup += `<rect class="cell" data-layer="${c.layer}" data-head="${c.head}" data-lazy="${c.lazy}"${bounded} x="${cx}" y="${cy}" width="${cellW}" height="${cellH}" rx="${rx}" fill="${fills[i]}"${stroke}/>`;
    if (c.bounds)
      hatches += `<rect class="bound-hatch" data-layer="${c.layer}" data-head="${c.head}" x="${cx}" y="${cy}" width="${cellW}" height="${cellH}" rx="${rx}" fill="url(#${layout.hatch(textOn(fills[i], theme))})"/>`;
  });
  const cellsG = block.append('g').attr('class', 'cells').attr('data-side', e.side).node()!;
  cellsG.innerHTML = markup;
  for (const el of Array.from(cellsG.children))
    cells.set(`${e.side}:${el.getAttribute('data-layer')}:${el.getAttribute('data-head')}`, el as SVGRectElement);
  if (hatches) block.append('g').attr('class', 'bound-hatches').attr('pointer-events', 'none').node()!.innerHTML = hatches;

  if (g.cellW >= 36 && g.cellH >= 20) {
    let text = '';
    model.cells.forEach((c, i) => {
      text += `<text x="${x(c.layer)! + g.cellW / 2}" y="${yh(c.head)! + g.cellH / 2 + 4}" text-anchor="middle" font-size="10.5" fill="${textOn(fills[i], theme)}">${c.bounds ? '≥' : ''}${formatMetric(o.metric, c.value, e.report.settings.mode)}</text>`;
    });
    block.append('g').attr('class', 'cell-values').attr('pointer-events', 'none').node()!.innerHTML = text;
  }
}

/** Lazy runs outlined across the strip and the cells. */
function drawLazyRuns(block: G, model: HeatmapModel, x: ScaleBand<number>, y: number, g: HeatmapGeometry, theme: Theme): void {
  block
    .append('g')
    .attr('class', 'lazy-runs')
    .attr('pointer-events', 'none')
    .selectAll('rect')
    .data(lazyRuns(model.lazyLayers))
    .join('rect')
    .attr('x', ([a]) => x(a)! - 1.5)
    .attr('y', y - 3)
    .attr('width', ([a, b]) => (model.layers.indexOf(b) - model.layers.indexOf(a) + 1) * g.cellW + 3)
    .attr('height', STRIP_H + 6 + model.numHeads * g.cellH + 5)
    .attr('rx', 3)
    .attr('fill', 'none')
    .attr('stroke', theme.warning)
    .attr('stroke-width', 1.5)
    .attr('stroke-dasharray', '4 3');
}

/** Layer axis (lazy layers' numbers in orange) and head axis, with their names. */
function drawBlockAxes(
  block: G,
  model: HeatmapModel,
  lazySet: Set<number>,
  x: ScaleBand<number>,
  yh: ScaleBand<number>,
  cellsTop: number,
  g: HeatmapGeometry,
  theme: Theme,
): void {
  const every = Math.max(1, Math.ceil(26 / g.cellW));
  const xAxis = block
    .append('g')
    .attr('class', 'axis x-axis')
    .attr('transform', `translate(0,${cellsTop + model.numHeads * g.cellH + 2})`)
    .call(
      axisBottom(x)
        .tickValues(model.layers.filter((l, i) => i % every === 0 || i === model.layers.length - 1))
        .tickSize(3)
        .tickSizeOuter(0),
    );
  xAxis
    .selectAll<SVGTextElement, number>('text')
    .attr('fill', (l) => (lazySet.has(l) ? theme.warning : theme.muted))
    .attr('font-weight', (l) => (lazySet.has(l) ? 600 : 400));
  block
    .append('text')
    .attr('x', g.left + model.layers.length * g.cellW)
    .attr('y', cellsTop + model.numHeads * g.cellH + 30)
    .attr('text-anchor', 'end')
    .attr('fill', theme.muted)
    .text('layer →');
  const everyH = Math.max(1, Math.ceil(14 / g.cellH));
  block
    .append('g')
    .attr('class', 'axis y-axis')
    .attr('transform', `translate(${g.left - 2},0)`)
    .call(
      axisLeft(yh)
        .tickValues(range(model.numHeads).filter((h) => h % everyH === 0))
        .tickSize(3)
        .tickSizeOuter(0),
    );
  block
    .append('text')
    .attr('transform', `translate(${g.left - 34},${cellsTop + (model.numHeads * g.cellH) / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .attr('fill', theme.muted)
    .text('head');
}

/** Step 4: concrete colours and font on every axis (the export carries no CSS). */
function styleAxes(svg: Svg, theme: Theme): void {
  svg.selectAll('.axis path, .axis line').attr('stroke', theme.grid);
  svg
    .selectAll('.axis text')
    .filter(function () {
      return !(this as SVGTextElement).getAttribute('fill') || (this as SVGTextElement).getAttribute('fill') === 'currentColor';
    })
    .attr('fill', theme.muted);
  svg.selectAll('.axis').attr('font-size', 10).attr('font-family', theme.fontFamily);
}

/** Step 5: the colour legend (one for all blocks: one scale), with the rank-1 swatch where the metric has one. */
function drawLegend(svg: Svg, { g, height, compare, color }: Layout, o: HeatmapOptions): void {
  const { theme, metric } = o;
  const legH = Math.min(180, Math.max(60, height - TOP - 44 - (hasRankOneColor(metric) ? 24 : 0)));
  const legX = g.left + g.plotW + 28;
  const legY = TOP + (compare ? TITLE_H : 0) + COUNT_H + STRIP_H + 6;
  const gradId = `grad-${Math.random().toString(36).slice(2, 8)}`;
  const defs = svg.append('defs');
  const lg = defs.append('linearGradient').attr('id', gradId).attr('x1', 0).attr('y1', 1).attr('x2', 0).attr('y2', 0);
  const isLog = HEAD_METRICS[metric].scale === 'log';
  const [d0, d1] = o.domain;
  for (let i = 0; i <= 16; i++) {
    const t = i / 16;
    const v = isLog ? d0 * Math.pow(d1 / d0, t) : d0 + (d1 - d0) * t;
    // The ramp itself (rank 1 is a swatch of its own below it).
    lg.append('stop')
      .attr('offset', t)
      .attr('stop-color', color(hasRankOneColor(metric) && i === 0 ? v * (1 + 1e-6) + 1e-6 : v));
  }
  const leg = svg.append('g').attr('class', 'legend').attr('transform', `translate(${legX},${legY})`);
  leg
    .append('text')
    .attr('x', 0)
    .attr('y', -8)
    .attr('font-size', 11)
    .attr('font-weight', 600)
    .attr('fill', theme.foreground)
    .text(HEAD_METRICS[metric].short);
  leg.append('rect').attr('width', 12).attr('height', legH).attr('rx', 2).attr('fill', `url(#${gradId})`).attr('stroke', theme.border);
  const ls = (isLog ? scaleLog().domain(o.domain) : scaleLinear().domain(o.domain)).range([legH, 0]);
  const la = leg
    .append('g')
    .attr('transform', 'translate(12,0)')
    .call(
      axisRight(ls)
        .ticks(isLog ? 4 : 5, isLog ? format('~d') : format('.1f'))
        .tickSize(4),
    );
  la.selectAll('path').remove();
  la.selectAll('line').attr('stroke', theme.grid);
  la.selectAll('text').attr('fill', theme.muted).attr('font-size', 10);
  leg
    .append('text')
    .attr('x', 0)
    .attr('y', legH + 16)
    .attr('font-size', 10)
    .attr('fill', theme.muted)
    .text(HEAD_METRICS[metric].lazyEnd === 'low' ? '↓ lazy' : '↑ lazy');
  if (hasRankOneColor(metric)) {
    // Rank 1 has its own colour, apart from the ramp: the legend shows it as its own swatch.
    const sw = leg
      .append('g')
      .attr('class', 'rank1-legend')
      .attr('transform', `translate(0,${legH + 26})`);
    sw.append('rect').attr('width', 12).attr('height', 12).attr('rx', 2).attr('fill', rankOneColor(theme)).attr('stroke', theme.border);
    sw.append('text').attr('x', 17).attr('y', 10).attr('font-size', 10).attr('fill', theme.foreground).text('rank 1');
  }
}

/**
 * Step 5b: the row under the blocks that says what the stripes mean: a hatched swatch, "k* > r: certified bounds",
 * and that the colour (and any number in the cell) is the lower end.
 */
function drawBoundsLegend(svg: Svg, { g, height, color, hatch }: Layout, o: HeatmapOptions): void {
  const { theme } = o;
  const swatchFill = color(Math.sqrt(o.domain[0] * o.domain[1]));
  const leg = svg
    .append('g')
    .attr('class', 'bounds-legend')
    .attr('transform', `translate(${g.left},${height - BOUNDS_H + 4})`);
  leg.append('rect').attr('width', 12).attr('height', 12).attr('rx', 2).attr('fill', swatchFill).attr('stroke', theme.border);
  leg
    .append('rect')
    .attr('width', 12)
    .attr('height', 12)
    .attr('rx', 2)
    .attr('fill', `url(#${hatch(textOn(swatchFill, theme))})`);
  const label = leg
    .append('text')
    .attr('class', 'bounds-legend-label')
    .attr('x', 18)
    .attr('y', 10)
    .attr('font-size', 10.5)
    .attr('fill', theme.foreground)
    .text(boundsLegendLabel(o.entries));
  label.append('tspan').attr('fill', theme.muted).text(' · colour: the lower end');
}

/**
 * Step 6: selection and keyboard-cursor outlines (drawn on top), hover tooltips, click to select, and the keyboard:
 * the SVG is one tab stop; arrows move a cursor, Enter/Space selects, Escape hides the tooltip. In compare mode,
 * moving past the last head goes to the other block. Returns the function that moves the selection outline.
 */
function bindInteractions(svg: Svg, cells: CellRects, { compare }: Layout, o: HeatmapOptions): (sel: HeadSelection | undefined) => void {
  const { entries, metric, theme } = o;
  const overlay = svg.append('g').attr('class', 'overlay').attr('pointer-events', 'none');
  const selRect = overlay
    .append('rect')
    .attr('class', 'selected-outline')
    .attr('fill', 'none')
    .attr('stroke', theme.foreground)
    .attr('stroke-width', 2)
    .attr('rx', 2)
    .attr('display', 'none');
  const curRect = overlay
    .append('rect')
    .attr('class', 'cursor-outline')
    .attr('fill', 'none')
    .attr('stroke', theme.focus)
    .attr('stroke-width', 2)
    .attr('stroke-dasharray', '3 2')
    .attr('rx', 2)
    .attr('display', 'none');
  const place = (r: typeof selRect, key: string | undefined) => {
    const el = key ? cells.get(key) : undefined;
    if (!el) return r.attr('display', 'none');
    return r
      .attr('display', null)
      .attr('x', Number(el.getAttribute('x')) - 1)
      .attr('y', Number(el.getAttribute('y')) - 1)
      .attr('width', Number(el.getAttribute('width')) + 2)
      .attr('height', Number(el.getAttribute('height')) + 2);
  };
  const keyOf = (s?: { side: Side; layer: number; head: number }) => (s ? `${s.side}:${s.layer}:${s.head}` : undefined);
  place(selRect, keyOf(o.selected));

  const entryOf = (side: Side) => entries.find((e) => e.side === side)!;
  const showTip = (side: Side, layer: number, head: number, px: number, py: number) => {
    const r = entryOf(side).report;
    const l = r.layers.find((x) => x.index === layer);
    const hr = l?.heads[head];
    if (!l || !hr) return;
    o.tooltip.show(px, py, headTooltip(r, l, head, compare ? entryOf(side).label : undefined));
  };
  const cellOf = (t: EventTarget | null) => {
    const el = t instanceof Element ? t.closest('rect.cell') : null;
    if (!el) return undefined;
    const side = (el.parentNode as Element).getAttribute('data-side') as Side;
    return { side, layer: Number(el.getAttribute('data-layer')), head: Number(el.getAttribute('data-head')) };
  };

  let cursor: (Cursor & { side: Side }) | undefined = o.selected ? { ...o.selected } : undefined;
  const node = svg.node()!;
  node.addEventListener('mousemove', (ev) => {
    const c = cellOf(ev.target);
    if (c) showTip(c.side, c.layer, c.head, ev.clientX, ev.clientY);
    else o.tooltip.hide();
  });
  node.addEventListener('mouseleave', () => o.tooltip.hide());
  node.addEventListener('click', (ev) => {
    const c = cellOf(ev.target);
    if (!c) return;
    cursor = c;
    place(selRect, keyOf(c));
    curRect.attr('display', 'none');
    o.onSelect(c);
  });

  const showCursor = () => {
    if (!cursor) return;
    const k = keyOf(cursor)!;
    place(curRect, k);
    const el = cells.get(k);
    if (el) {
      const b = el.getBoundingClientRect();
      showTip(cursor.side, cursor.layer, cursor.head, b.right, b.bottom);
      const r = entryOf(cursor.side).report;
      const hr = r.layers.find((x) => x.index === cursor!.layer)?.heads[cursor.head];
      const kb = hr && metric === 'kStar' ? kStarInterval(hr) : undefined;
      if (hr)
        o.announce(
          `${compare ? entryOf(cursor.side).label + ', ' : ''}layer ${cursor.layer}, head ${cursor.head}: ${HEAD_METRICS[metric].short} ${kb ? `${formatKStarBounds(kb, r.settings.mode)} ${boundedReason(exactUpTo(r))}` : formatMetric(metric, hr[metric], r.settings.mode)}`,
        );
    }
  };
  const firstCell = (): Cursor & { side: Side } => ({ side: entries[0].side, layer: entries[0].report.layers[0]?.index ?? 0, head: 0 });
  node.addEventListener('focus', () => {
    // A mouse click focuses the SVG too: show the keyboard cursor only for keyboard focus.
    if (!node.matches(':focus-visible')) return;
    cursor ??= firstCell();
    showCursor();
  });
  node.addEventListener('blur', () => {
    curRect.attr('display', 'none');
    o.tooltip.hide();
  });
  node.addEventListener('keydown', (ev) => {
    if (!cursor) {
      if (!ev.key.startsWith('Arrow') && ev.key !== 'Home' && ev.key !== 'End') return;
      ev.preventDefault();
      cursor = firstCell();
      showCursor();
      return;
    }
    const e = entryOf(cursor.side);
    const m = heatmapModel(e.report, metric);
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      place(selRect, keyOf(cursor));
      o.onSelect({ ...cursor });
      return;
    }
    if (ev.key === 'Escape') {
      o.tooltip.hide();
      return;
    }
    if (compare && (ev.key === 'ArrowDown' || ev.key === 'ArrowUp')) {
      const i = entries.findIndex((x) => x.side === cursor!.side);
      const j = ev.key === 'ArrowDown' && cursor.head === m.numHeads - 1 ? i + 1 : ev.key === 'ArrowUp' && cursor.head === 0 ? i - 1 : i;
      if (j !== i && j >= 0 && j < entries.length) {
        ev.preventDefault();
        const other = entries[j];
        const om = heatmapModel(other.report, metric);
        const layer = om.layers.includes(cursor.layer) ? cursor.layer : om.layers[om.layers.length - 1];
        cursor = { side: other.side, layer, head: ev.key === 'ArrowDown' ? 0 : om.numHeads - 1 };
        showCursor();
        return;
      }
    }
    const next = moveCursor(cursor, ev.key, m.layers, m.numHeads);
    if (next) {
      ev.preventDefault();
      cursor = { side: cursor.side, ...next };
      showCursor();
    }
  });
  return (sel) => void place(selRect, keyOf(sel));
}
