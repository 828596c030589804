/** What a webview may ask the host to write, checked and decoded (pure; unit-tested). */
import type { ExportFormat } from '../shared/protocol';

export const EXPORT_FILTERS: Record<ExportFormat, Record<string, string[]>> = {
  svg: { 'SVG image': ['svg'] },
  png: { 'PNG image': ['png'] },
  csv: { 'CSV (comma-separated)': ['csv'] },
  json: { JSON: ['json'] },
};

/** Largest export accepted from a webview (a 1024² PNG at 2× is a few MB). */
export const MAX_EXPORT_BYTES = 64 * 1024 * 1024;

export function isExportFormat(f: unknown): f is ExportFormat {
  return f === 'svg' || f === 'png' || f === 'csv' || f === 'json';
}

/** Bytes to write: PNG from a base64 data URL, the rest as UTF-8 text. Throws with a clear message otherwise. */
export function decodeExport(format: ExportFormat, data: string): Uint8Array {
  if (typeof data !== 'string') throw new Error('export data must be a string');
  let bytes: Uint8Array;
  if (format === 'png') {
    const m = /^data:image\/png;base64,([A-Za-z0-9+/=\s]+)$/.exec(data);
    if (!m) throw new Error('PNG export must be a data:image/png;base64 URL');
    bytes = Uint8Array.from(Buffer.from(m[1], 'base64'));
    if (bytes.length < 8 || bytes[0] !== 0x89 || bytes[1] !== 0x50 || bytes[2] !== 0x4e || bytes[3] !== 0x47)
      throw new Error('PNG export is not a PNG image');
  } else {
    if (format === 'svg' && !/<svg[\s>]/.test(data)) throw new Error('SVG export does not contain an <svg> element');
    if (format === 'json') JSON.parse(data);
    bytes = new TextEncoder().encode(data);
  }
  if (bytes.length > MAX_EXPORT_BYTES) throw new Error(`export is ${bytes.length} bytes, more than the ${MAX_EXPORT_BYTES}-byte limit`);
  return bytes;
}

/** A safe file name with the right extension (the webview suggests it; the host has the last word). */
export function exportFileName(suggested: string, format: ExportFormat): string {
  const stem = String(suggested || 'export')
    .replace(/\.[A-Za-z0-9]+$/, '')
    .replace(/[^A-Za-z0-9._ -]+/g, '-')
    .replace(/^[.\s-]+|[\s-]+$/g, '')
    .slice(0, 100);
  return `${stem || 'export'}.${format}`;
}
