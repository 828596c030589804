/** The webview side of the VS Code API, typed per panel. acquireVsCodeApi() may be called only once per page. */

interface RawApi {
  postMessage(msg: unknown, transfer?: unknown[]): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): RawApi;

export interface VsCodeApi<Out, State> {
  post(msg: Out): void;
  getState(): State | undefined;
  setState(state: State): void;
}

let raw: RawApi | undefined;

export function vscodeApi<Out, State>(): VsCodeApi<Out, State> {
  raw ??= acquireVsCodeApi();
  const api = raw;
  return {
    post: (msg) => api.postMessage(msg),
    getState: () => (api.getState() as State | undefined) ?? undefined,
    setState: (s) => api.setState(s),
  };
}

/** Subscribe to host messages; returns an unsubscribe function. */
export function onHostMessage<In>(handler: (msg: In) => void): () => void {
  const listener = (e: MessageEvent) => {
    if (e.data && typeof e.data === 'object' && typeof (e.data as { type?: unknown }).type === 'string') handler(e.data as In);
  };
  window.addEventListener('message', listener);
  return () => window.removeEventListener('message', listener);
}
