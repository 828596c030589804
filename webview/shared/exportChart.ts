/**
 * Serialise a chart for export: a standalone SVG (colours are already concrete; the background rect made opaque) and
 * a PNG rendered from it at 2× through an <img> (data: URL, allowed by the CSP's img-src).
 */
export function serializeSvg(svg: SVGSVGElement, title?: string): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.removeAttribute('tabindex');
  clone.removeAttribute('class');
  for (const bg of Array.from(clone.querySelectorAll('rect.export-bg'))) bg.setAttribute('opacity', '1');
  for (const o of Array.from(clone.querySelectorAll('.overlay, .hover-target'))) o.remove();
  if (title) {
    const t = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    t.textContent = title;
    clone.insertBefore(t, clone.firstChild);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(clone)}\n`;
}

export async function svgToPng(svgText: string, width: number, height: number, scale = 2): Promise<string> {
  const img = new Image();
  img.decoding = 'sync';
  const loaded = new Promise<void>((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error('could not render the SVG to an image'));
  });
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText)}`;
  await loaded;
  const c = document.createElement('canvas');
  c.width = Math.round(width * scale);
  c.height = Math.round(height * scale);
  const ctx = c.getContext('2d')!;
  ctx.scale(scale, scale);
  ctx.drawImage(img, 0, 0, width, height);
  return c.toDataURL('image/png');
}
