import { select } from 'd3';
import type { Theme } from '../../shared/theme';

export const SVG_NS = 'http://www.w3.org/2000/svg';

/** The root of an exportable report chart: sized, self-describing (xmlns) and themed, so a saved SVG looks the same. */
export function chartRoot(className: string, width: number, height: number, theme: Theme) {
  return select(document.createElementNS(SVG_NS, 'svg') as SVGSVGElement)
    .attr('xmlns', SVG_NS)
    .attr('class', className)
    .attr('width', width)
    .attr('height', height)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('font-family', theme.fontFamily)
    .attr('font-size', 11)
    .attr('fill', theme.foreground);
}
