/**
 * What every panel of ours hands VS Code: webview options that allow scripts and only our built webviews and media,
 * and the page for webview bundle `name` (dist/webview/<name>/main.js with media/webview.css and media/<name>.css).
 */
import * as vscode from 'vscode';
import { makeNonce, webviewHtml } from './html';

export function panelOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, name: string, title: string): string {
  const uri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
  return webviewHtml({
    cspSource: webview.cspSource,
    nonce: makeNonce(),
    scriptUri: uri('dist', 'webview', name, 'main.js'),
    styleUris: [uri('media', 'webview.css'), uri('media', `${name}.css`)],
    title,
  });
}
