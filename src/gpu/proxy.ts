/**
 * Which proxy the installer uses, as data: the explicit setting (--proxy, VS Code's http.proxy) wins, else the
 * environment (HTTPS_PROXY for https, HTTP_PROXY for http, ALL_PROXY for both), and NO_PROXY plus VS Code's
 * http.noProxy bypass it. undici's EnvHttpProxyAgent applies these options (http.ts); this module has no
 * dependency so that the extension can build the settings without loading the HTTP client.
 */

export interface ProxySettings {
  /** --proxy, or VS Code's http.proxy: wins over the environment. */
  explicit?: string;
  env?: Record<string, string | undefined>;
  /** Extra no-proxy entries (VS Code's http.noProxy). */
  noProxy?: string[];
}

/** EnvHttpProxyAgent's options: empty strings, not undefined, so that undici never reads process.env itself. */
export interface ProxyOptions {
  httpProxy: string;
  httpsProxy: string;
  /** Comma-separated NO_PROXY entries: `*`, `.example.com`, `example.com`, `host:port`, `[::1]`. */
  noProxy: string;
}

/**
 * A string is one proxy for every request (as --proxy gives it); undefined means a direct connection.
 * Where only an http proxy is set, undici uses it for https too (EnvHttpProxyAgent's rule).
 */
export function proxyOptions(p: string | ProxySettings | undefined): ProxyOptions {
  if (p === undefined) return { httpProxy: '', httpsProxy: '', noProxy: '' };
  const s: ProxySettings = typeof p === 'string' ? { explicit: p } : p;
  const env = s.env ?? {};
  const all = env.ALL_PROXY ?? env.all_proxy;
  const withScheme = (u: string | undefined) => (u ? (/^[a-z][a-z0-9+.-]*:\/\//i.test(u) ? u : `http://${u}`) : '');
  const noProxy = [env.NO_PROXY ?? env.no_proxy ?? '', ...(s.noProxy ?? [])]
    .flatMap((x) => x.split(/[,\s]+/))
    .filter(Boolean)
    .join(',');
  return {
    httpProxy: withScheme(s.explicit || env.http_proxy || env.HTTP_PROXY || all),
    httpsProxy: withScheme(s.explicit || env.HTTPS_PROXY || env.https_proxy || all),
    noProxy,
  };
}
