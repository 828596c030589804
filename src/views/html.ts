/**
 * The HTML shell of every webview: a strict CSP with a nonce, no remote resources, only our built script and CSS.
 * Pure (no vscode import) so the headless-browser test serves exactly the page the extension serves.
 */

export interface WebviewPage {
  /** `webview.cspSource` (the origin webview resources are served from). */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUris: string[];
  title: string;
  /** Extra nonce'd scripts to run first (tests only: a fake acquireVsCodeApi). */
  preludeUris?: string[];
}

export function makeNonce(): string {
  const bytes = new Uint8Array(18);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data: blob:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "frame-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

function attr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

export function webviewHtml(p: WebviewPage): string {
  const styles = p.styleUris.map((u) => `  <link rel="stylesheet" href="${attr(u)}">`).join('\n');
  const prelude = (p.preludeUris ?? []).map((u) => `  <script nonce="${attr(p.nonce)}" src="${attr(u)}"></script>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(p.cspSource, p.nonce))}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>${attr(p.title)}</title>
${styles}
</head>
<body>
  <main id="app" aria-live="off"></main>
${prelude}
  <script nonce="${attr(p.nonce)}" src="${attr(p.scriptUri)}"></script>
</body>
</html>
`;
}
