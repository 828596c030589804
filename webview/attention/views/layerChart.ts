/**
 * Per-layer chart: max and mean k* (the paper's figure), or Block Influence / angular distance. Layer i sits under
 * column i of the heatmap (same left margin and column width). Compare mode overlays both models.
 */
import { axisBottom, axisLeft, line, max, pointer, scaleLinear } from 'd3';
import type { LayerSeries, Side } from '../../../src/shared/protocol';
import type { AnalysisReport } from '../../../src/shared/report';
import { LAYER_SERIES } from '../../shared/colorScale';
import { HeatmapGeometry, layerLines, lazyRuns, type SeriesPoint } from '../../shared/heatmapModel';
import { aboveRank, exactUpTo, layerBoundedHeads } from '../../shared/kStarBounds';
import { Theme } from '../../shared/theme';
import { Tooltip } from '../../shared/dom';
import { chartRoot } from './svgRoot';

export interface LayerChartOptions {
  theme: Theme;
  entries: { side: Side; label: string; report: AnalysisReport }[];
  series: LayerSeries;
  geometry: HeatmapGeometry;
  tooltip: Tooltip;
}

export function drawLayerChart(container: HTMLElement, o: LayerChartOptions): SVGSVGElement {
  const { theme, geometry: g, series } = o;
  const compare = o.entries.length > 1;
  const maxLayers = Math.max(...o.entries.map((e) => e.report.layers.length));
  const height = 236;
  const top = 34;
  const bottom = 40;
  const plotH = height - top - bottom;
  const colorOf = (side: Side) => (side === 'a' ? theme.accent : theme.accent2);

  const lines = o.entries.flatMap((e) =>
    layerLines(e.report, series).map((l) => ({
      ...l,
      side: e.side,
      label: compare ? `${e.side.toUpperCase()} ${l.label}` : l.label,
      report: e.report,
    })),
  );
  // Upper bounds count too: a layer's bar from its lower to its upper bound stays inside the plot.
  const yMax = max(lines.flatMap((l) => l.points.map((p) => p.upper ?? p.value))) ?? 1;
  const kValue = (p: SeriesPoint) => (Number.isInteger(p.value) ? String(p.value) : p.value.toFixed(2));
  const kUpper = (p: SeriesPoint) => (Number.isInteger(p.upper) ? String(p.upper) : p.upper!.toFixed(2));
  const yDomain: [number, number] = series === 'kStar' ? [0, Math.max(2, yMax)] : [0, Math.max(0.05, yMax)];
  const y = scaleLinear()
    .domain(yDomain)
    .nice()
    .range([top + plotH, top]);
  // Layer positions: the centre of heatmap column i.
  const xOf = (e: { report: AnalysisReport }, layer: number) => {
    const i = e.report.layers.findIndex((l) => l.index === layer);
    return g.left + (i + 0.5) * g.cellW;
  };

  const svg = chartRoot('chart layer-chart', g.width, height, theme)
    .attr('role', 'img')
    .attr('tabindex', 0)
    .attr(
      'aria-label',
      `${LAYER_SERIES[series].label} for ${o.entries
        .map(
          (e) =>
            `${e.label}: ${layerLines(e.report, series)
              .map((l) => `${l.label} ${l.points.map((p) => `${p.upper !== undefined ? '≥' : ''}${+p.value.toFixed(3)}`).join(', ')}`)
              .join('; ')}`,
        )
        .join('. ')}`,
    );
  svg
    .append('rect')
    .attr('class', 'export-bg')
    .attr('width', g.width)
    .attr('height', height)
    .attr('fill', theme.background)
    .attr('opacity', 0);

  // Lazy layers shaded (the first entry's; in compare both, each in its own tint).
  for (const e of o.entries) {
    const lazy = e.report.layers.filter((l) => l.lazy).map((l) => l.index);
    svg
      .append('g')
      .attr('class', `lazy-bands lazy-${e.side}`)
      .selectAll('rect')
      .data(lazyRuns(lazy))
      .join('rect')
      .attr('x', ([a]) => xOf(e, a) - g.cellW / 2)
      .attr('y', top)
      .attr('width', ([a, b]) => xOf(e, b) - xOf(e, a) + g.cellW)
      .attr('height', plotH)
      .attr('fill', theme.warning)
      .attr('fill-opacity', compare ? 0.07 : 0.12);
  }

  // Grid and axes.
  const yAxis = svg
    .append('g')
    .attr('class', 'axis y-axis')
    .attr('transform', `translate(${g.left - 2},0)`)
    .call(
      axisLeft(y)
        .ticks(5)
        .tickSize(-(maxLayers * g.cellW + 2))
        .tickSizeOuter(0),
    );
  yAxis.select('.domain').remove();
  yAxis.selectAll('line').attr('stroke', theme.grid).attr('stroke-opacity', 0.35);
  yAxis.selectAll('text').attr('fill', theme.muted);
  const xRef = o.entries.reduce((a, b) => (b.report.layers.length > a.report.layers.length ? b : a));
  const layers = xRef.report.layers.map((l) => l.index);
  const every = Math.max(1, Math.ceil(26 / g.cellW));
  const xs = scaleLinear()
    .domain([0, layers.length])
    .range([g.left, g.left + layers.length * g.cellW]);
  const xAxis = svg
    .append('g')
    .attr('class', 'axis x-axis')
    .attr('transform', `translate(0,${top + plotH + 2})`)
    .call(
      axisBottom(xs)
        .tickValues(layers.map((_, i) => i + 0.5).filter((_, i) => i % every === 0 || i === layers.length - 1))
        .tickFormat((v) => String(layers[Math.floor(Number(v))]))
        .tickSize(3)
        .tickSizeOuter(0),
    );
  xAxis.select('.domain').attr('stroke', theme.grid);
  xAxis.selectAll('line').attr('stroke', theme.grid);
  xAxis.selectAll('text').attr('fill', theme.muted);
  svg.selectAll('.axis').attr('font-size', 10).attr('font-family', theme.fontFamily);
  svg
    .append('text')
    .attr('x', g.left + layers.length * g.cellW)
    .attr('y', top + plotH + 32)
    .attr('text-anchor', 'end')
    .attr('fill', theme.muted)
    .text('layer →');
  svg
    .append('text')
    .attr('transform', `translate(${g.left - 40},${top + plotH / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .attr('fill', theme.muted)
    .text(series === 'kStar' ? 'k*' : LAYER_SERIES[series].short);

  // Lines and points.
  const path = line<{ layer: number; value: number }>();
  for (const l of lines) {
    const e = { report: l.report };
    path.x((p) => xOf(e, p.layer)).y((p) => y(p.value));
    const c = colorOf(l.side);
    svg
      .append('path')
      .attr('class', `series series-${l.key}`)
      .attr('d', path(l.points))
      .attr('fill', 'none')
      .attr('stroke', c)
      .attr('stroke-width', l.dashed ? 1.5 : 2)
      .attr('stroke-dasharray', l.dashed ? '5 4' : null)
      .attr('stroke-linejoin', 'round');
    svg
      .append('g')
      .selectAll('circle')
      .data(l.points)
      .join('circle')
      .attr('cx', (p) => xOf(e, p.layer))
      .attr('cy', (p) => y(p.value))
      .attr('r', g.cellW >= 12 ? (l.dashed ? 2.5 : 3) : 1.8)
      .attr('fill', l.dashed ? theme.background : c)
      .attr('stroke', c)
      .attr('stroke-width', 1.5);
    // Layers with heads shown as bounds: the value is a lower bound; a bar reaches up to the upper bound (max and
    // mean side by side, a few px apart, so both read).
    const bounded = l.points.filter((p) => p.upper !== undefined);
    if (bounded.length) {
      const dx = g.cellW >= 12 ? (l.dashed ? -3 : 3) : 0;
      const bars = svg
        .append('g')
        .attr('class', `bound-bars bound-bars-${l.key}`)
        .selectAll('g')
        .data(bounded)
        .join('g')
        .attr('class', 'bound-bar')
        .attr('data-layer', (p) => p.layer)
        .attr('data-lo', (p) => p.value)
        .attr('data-hi', (p) => p.upper!)
        .attr('stroke', c)
        .attr('stroke-width', 1.5);
      bars
        .append('line')
        .attr('x1', (p) => xOf(e, p.layer) + dx)
        .attr('x2', (p) => xOf(e, p.layer) + dx)
        .attr('y1', (p) => y(p.value))
        .attr('y2', (p) => y(p.upper!))
        .attr('stroke-dasharray', l.dashed ? '2 2' : null);
      bars
        .append('line')
        .attr('x1', (p) => xOf(e, p.layer) + dx - 3)
        .attr('x2', (p) => xOf(e, p.layer) + dx + 3)
        .attr('y1', (p) => y(p.upper!))
        .attr('y2', (p) => y(p.upper!));
    }
  }

  // Legend (top, inside the SVG so exports carry it).
  const leg = svg.append('g').attr('class', 'legend').attr('transform', `translate(${g.left},14)`);
  let lx = 0;
  for (const l of lines) {
    const c = colorOf(l.side);
    const item = leg.append('g').attr('transform', `translate(${lx},0)`);
    item
      .append('line')
      .attr('x1', 0)
      .attr('x2', 18)
      .attr('y1', 0)
      .attr('y2', 0)
      .attr('stroke', c)
      .attr('stroke-width', 2)
      .attr('stroke-dasharray', l.dashed ? '5 4' : null);
    item.append('text').attr('x', 24).attr('y', 4).attr('fill', theme.foreground).text(l.label);
    lx += 34 + l.label.length * 6.2;
  }
  if (lines.some((l) => l.points.some((p) => p.upper !== undefined))) {
    const ranks = [...new Set(o.entries.filter((e) => e.report.layers.some((l) => layerBoundedHeads(l))).map((e) => exactUpTo(e.report)))];
    const item = leg.append('g').attr('class', 'bounds-legend').attr('transform', `translate(${lx},0)`);
    item.append('line').attr('x1', 7).attr('x2', 7).attr('y1', 6).attr('y2', -6).attr('stroke', theme.foreground).attr('stroke-width', 1.5);
    item
      .append('line')
      .attr('x1', 4)
      .attr('x2', 10)
      .attr('y1', -6)
      .attr('y2', -6)
      .attr('stroke', theme.foreground)
      .attr('stroke-width', 1.5);
    const text = `${ranks.length === 1 ? aboveRank(ranks[0]) : 'k* above the exact rank'}: bounds`;
    item.append('text').attr('x', 16).attr('y', 4).attr('fill', theme.foreground).text(text);
    lx += 26 + text.length * 6.2;
  }
  // Per layer, how many heads are bounds (k* series): a row of counts over the plot (a comparison puts A's left of
  // B's, each in its side's colour).
  const counted = series === 'kStar' ? o.entries.filter((e) => e.report.layers.some((l) => layerBoundedHeads(l))) : [];
  const yRow = top - 4;
  if (counted.length)
    svg
      .append('text')
      .attr('x', g.left - 8)
      .attr('y', yRow)
      .attr('text-anchor', 'end')
      .attr('font-size', 9)
      .attr('fill', theme.muted)
      .text('bounded');
  for (const e of counted) {
    const counts = e.report.layers.map((l) => ({ layer: l.index, n: layerBoundedHeads(l), of: l.heads.length })).filter((c) => c.n);
    svg
      .append('g')
      .attr('class', `bounded-counts bounded-counts-${e.side}`)
      .selectAll('text')
      .data(counts)
      .join('text')
      .attr('class', 'bounded-count')
      .attr('data-layer', (c) => c.layer)
      .attr('data-count', (c) => c.n)
      .attr('x', (c) => xOf(e, c.layer) + (counted.length > 1 ? (e.side === 'a' ? -4 : 4) : 0))
      .attr('y', yRow)
      .attr('text-anchor', 'middle')
      .attr('font-size', 9)
      .attr('fill', colorOf(e.side))
      .text((c) => String(c.n))
      .append('title')
      .text((c) => `Layer ${c.layer}: ${c.n} of ${c.of} heads bounded (${aboveRank(exactUpTo(e.report))}); max and mean k* are bounds`);
  }
  const anyLazy = o.entries.some((e) => e.report.layers.some((l) => l.lazy));
  if (anyLazy) {
    const item = leg.append('g').attr('transform', `translate(${lx},0)`);
    item
      .append('rect')
      .attr('x', 0)
      .attr('y', -6)
      .attr('width', 14)
      .attr('height', 12)
      .attr('rx', 2)
      .attr('fill', theme.warning)
      .attr('fill-opacity', 0.25);
    item.append('text').attr('x', 20).attr('y', 4).attr('fill', theme.foreground).text('lazy layers');
  }
  if (!lines.some((l) => l.points.length)) {
    svg
      .append('text')
      .attr('x', g.left + (layers.length * g.cellW) / 2)
      .attr('y', top + plotH / 2)
      .attr('text-anchor', 'middle')
      .attr('fill', theme.muted)
      .text(`${LAYER_SERIES[series].label} was not computed in this report`);
  }

  // Hover: a guide line and the values of that layer.
  const guide = svg
    .append('line')
    .attr('y1', top)
    .attr('y2', top + plotH)
    .attr('stroke', theme.muted)
    .attr('stroke-dasharray', '2 2')
    .attr('display', 'none')
    .attr('pointer-events', 'none');
  svg
    .append('rect')
    .attr('class', 'hover-target')
    .attr('x', g.left)
    .attr('y', top)
    .attr('width', layers.length * g.cellW)
    .attr('height', plotH)
    .attr('fill', 'transparent')
    .on('mousemove', (ev: MouseEvent) => {
      const [mx] = pointer(ev);
      const i = Math.floor((mx - g.left) / g.cellW);
      if (i < 0 || i >= layers.length) return;
      guide
        .attr('display', null)
        .attr('x1', g.left + (i + 0.5) * g.cellW)
        .attr('x2', g.left + (i + 0.5) * g.cellW);
      const rows: (string | [string, string])[] = [`Layer ${layers[i]}`];
      for (const l of lines) {
        const p = l.points.find((q) => q.layer === layers[i]);
        if (p)
          rows.push([
            l.label,
            series !== 'kStar' ? p.value.toFixed(4) : p.upper !== undefined ? `≥ ${kValue(p)} (≤ ${kUpper(p)})` : kValue(p),
          ]);
      }
      if (series === 'kStar')
        for (const e of o.entries) {
          const l = e.report.layers.find((x) => x.index === layers[i]);
          const n = l ? layerBoundedHeads(l) : 0;
          if (n)
            rows.push(
              `${compare ? e.side.toUpperCase() + ': ' : ''}${n} head${n === 1 ? '' : 's'} bounded (${aboveRank(exactUpTo(e.report))}): max and mean are bounds`,
            );
        }
      for (const e of o.entries)
        if (e.report.layers.find((x) => x.index === layers[i])?.lazy) rows.push(`${compare ? e.side.toUpperCase() + ': ' : ''}lazy layer`);
      o.tooltip.show(ev.clientX, ev.clientY, rows);
    })
    .on('mouseleave', () => {
      guide.attr('display', 'none');
      o.tooltip.hide();
    });

  container.append(svg.node()!);
  return svg.node()!;
}
