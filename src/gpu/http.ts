/**
 * A small HTTP(S) client for the installer: proxies through a CONNECT tunnel, redirects, gzip'd JSON, and a
 * download that resumes with HTTP Range when the server honours it and restarts when it does not.
 * Node's http/https/tls only: no dependency, and the same code in the CLI, the extension host and the tests.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tls from 'node:tls';
import * as zlib from 'node:zlib';
import { cancelled, InherituneError } from '../errors';

/** The proxy URL to use for a request URL, or undefined for a direct connection. */
export type ProxyResolver = (url: URL) => string | undefined;

export interface HttpOptions {
  /** A proxy URL (http://[user:pass@]host:port) for every request, or a resolver. */
  proxy?: string | ProxyResolver;
  signal?: AbortSignal;
  /** Socket idle timeout (ms); default 30 s. */
  timeoutMs?: number;
  /** Extra CA certificates (PEM) to trust, e.g. a corporate TLS-inspecting proxy's. */
  ca?: string | Buffer | (string | Buffer)[];
  /** false only when the user turned certificate checks off (VS Code's http.proxyStrictSSL). */
  rejectUnauthorized?: boolean;
}

/** Errors that mean "could not talk to the server at all" (worth a retry; the offline advice if they persist). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_PROXY', 'ERR_TIMEOUT', 'UND_ERR_SOCKET']);

export function isNetworkError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return (typeof code === 'string' && NETWORK_CODES.has(code)) || (e as Error)?.message === 'aborted' || (e as Error)?.message === 'socket hang up';
}

export function isAbort(e: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted || (e as Error)?.name === 'AbortError' || (e as { code?: string })?.code === 'ABORT_ERR';
}

/** Non-retryable HTTP status, with the status on the error. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`HTTP ${status} from ${url}`);
    this.name = 'HttpStatusError';
  }
}

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function defaultPort(u: URL): number {
  return u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
}

/** Open a CONNECT tunnel to `target` through `proxy`; resolves with the raw socket once the proxy answers 200. */
function connectTunnel(proxy: URL, target: URL, o: HttpOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const authority = `${target.hostname}:${defaultPort(target)}`; // hostname keeps IPv6 brackets, as CONNECT wants
    const headers: Record<string, string> = { Host: authority };
    if (proxy.username || proxy.password) {
      headers['Proxy-Authorization'] = 'Basic ' + Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64');
    }
    const host = stripBrackets(proxy.hostname);
    const port = defaultPort(proxy);
    // `new ClientRequest` with our own connection, not http.request: VS Code's proxy support patches http.request
    // and would put its own agent in front of ours.
    const req = new http.ClientRequest({
      host,
      port,
      method: 'CONNECT',
      path: authority,
      headers,
      signal: o.signal,
      createConnection: () =>
        proxy.protocol === 'https:'
          ? tls.connect({ host, port, ca: o.ca, rejectUnauthorized: o.rejectUnauthorized, servername: net.isIP(host) ? undefined : host })
          : net.connect(port, host),
    });
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(codedError('ETIMEDOUT', `proxy ${proxy.host} did not answer within ${(o.timeoutMs ?? 30_000) / 1000} s`)));
    req.once('connect', (res, socket) => {
      req.setTimeout(0);
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(codedError('ERR_PROXY', `proxy ${proxy.host} refused CONNECT ${authority}: HTTP ${res.statusCode}${res.statusCode === 407 ? ' (proxy authentication required: put user:password in the proxy URL)' : ''}`));
        return;
      }
      resolve(socket);
    });
    req.once('error', (e) => {
      if (!isAbort(e, o.signal) && (e as { code?: string }).code && !/proxy/.test(e.message)) e.message = `proxy ${proxy.host}: ${e.message}`;
      reject(e);
    });
    req.end();
  });
}

function proxyFor(url: URL, o: HttpOptions): URL | undefined {
  const p = typeof o.proxy === 'function' ? o.proxy(url) : o.proxy;
  if (!p) return undefined;
  try {
    return new URL(/^[a-z]+:\/\//i.test(p) ? p : `http://${p}`);
  } catch {
    throw new InherituneError('E_ARGS', `proxy "${p}" is not a URL; use http://host:port (or http://user:password@host:port)`);
  }
}

/** One request (no redirects). */
async function requestOnce(url: URL, headers: Record<string, string>, o: HttpOptions): Promise<http.IncomingMessage> {
  const proxy = proxyFor(url, o);
  const tlsOpts = { ca: o.ca, rejectUnauthorized: o.rejectUnauthorized, servername: net.isIP(stripBrackets(url.hostname)) ? undefined : url.hostname };
  let socket: Duplex | undefined;
  if (proxy) {
    const raw = await connectTunnel(proxy, url, o);
    socket = url.protocol === 'https:' ? tls.connect({ socket: raw as net.Socket, ...tlsOpts }) : raw;
  }
  return new Promise((resolve, reject) => {
    const common = {
      method: 'GET',
      path: url.pathname + url.search,
      headers: { Host: url.host, 'User-Agent': 'inheritune-studio (install-gpu)', ...headers },
      signal: o.signal,
    };
    // Through the tunnel: a ClientRequest on our socket (see connectTunnel). Direct: http(s).request, which VS Code's
    // proxy support may route through a system (PAC) proxy, as it should.
    const req = socket
      ? new http.ClientRequest({ ...common, host: stripBrackets(url.hostname), port: defaultPort(url), createConnection: () => socket as net.Socket })
      : (url.protocol === 'https:' ? https : http).request({ ...common, host: stripBrackets(url.hostname), port: defaultPort(url), ...(url.protocol === 'https:' ? tlsOpts : {}) });
    const ms = o.timeoutMs ?? 30_000;
    req.setTimeout(ms, () => req.destroy(codedError('ETIMEDOUT', `no data from ${url.host} for ${ms / 1000} s`)));
    req.once('response', resolve);
    req.once('error', (e) => {
      socket?.destroy();
      reject(e);
    });
    req.end();
  });
}

/** GET with up to 5 redirects; the response's `url` property is the final URL. Status is not checked. */
export async function httpGet(url: string, headers: Record<string, string>, o: HttpOptions): Promise<http.IncomingMessage & { finalUrl: string }> {
  let u = new URL(url);
  for (let hop = 0; hop <= 5; hop++) {
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InherituneError('E_ARGS', `unsupported URL ${u.href} (http or https only)`);
    const res = await requestOnce(u, headers, o);
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      u = new URL(res.headers.location, u);
      continue;
    }
    return Object.assign(res, { finalUrl: u.href });
  }
  throw new InherituneError('E_IO', `too many redirects from ${url}`);
}

async function readBody(res: http.IncomingMessage, limit = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > limit) {
      res.destroy();
      throw new InherituneError('E_IO', `response from ${(res as { finalUrl?: string }).finalUrl ?? 'server'} is larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  const body = Buffer.concat(chunks);
  const enc = String(res.headers['content-encoding'] ?? '').toLowerCase();
  if (enc === 'gzip') return zlib.gunzipSync(body);
  if (enc === 'deflate') return zlib.inflateSync(body);
  if (enc === 'br') return zlib.brotliDecompressSync(body);
  return body;
}

export interface RetryOptions {
  /** Attempts in all (default 5). */
  maxAttempts?: number;
  /** First backoff (ms), doubled each retry (default 500). */
  retryDelayMs?: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(cancelled());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** GET JSON; undefined on 404/410. Network errors are retried (2 attempts by default). */
export async function getJson<T>(url: string, o: HttpOptions & RetryOptions = {}): Promise<T | undefined> {
  const attempts = o.maxAttempts ?? 2;
  for (let i = 1; ; i++) {
    try {
      const res = await httpGet(url, { Accept: 'application/json', 'Accept-Encoding': 'gzip, deflate' }, o);
      const status = res.statusCode ?? 0;
      if (status === 404 || status === 410) {
        res.resume();
        return undefined;
      }
      if (status !== 200) {
        res.resume();
        if (status >= 500 && i < attempts) {
          await sleep((o.retryDelayMs ?? 500) * 2 ** (i - 1), o.signal);
          continue;
        }
        throw new HttpStatusError(status, url);
      }
      const body = await readBody(res);
      try {
        return JSON.parse(body.toString('utf8')) as T;
      } catch (e) {
        throw new InherituneError('E_JSON', `${url} did not return JSON (${(e as Error).message})`);
      }
    } catch (e) {
      if (isAbort(e, o.signal)) throw cancelled();
      if (!isNetworkError(e) || i >= attempts) throw e;
      await sleep((o.retryDelayMs ?? 500) * 2 ** (i - 1), o.signal);
    }
  }
}

export interface DownloadOptions extends HttpOptions, RetryOptions {
  /** When known (from the feed), a response of another total size is rejected before its body is read. */
  expectedSize?: number;
  onBytes?: (received: number, total: number | undefined) => void;
}

export interface DownloadResult {
  bytes: number;
  attempts: number;
  /** Byte offsets a retry resumed from with a 206 response. */
  resumedFrom: number[];
  /** Times the server answered a Range request with the whole file (200), so the download started over. */
  restarts: number;
}

interface PartMeta {
  url: string;
  expectedSize?: number;
  etag?: string;
  lastModified?: string;
}

/**
 * Download `url` to `dest` through `dest.part`. After a dropped connection (or a previous run that stopped with the
 * network gone) it asks for the rest with `Range: bytes=N-` and `If-Range` (the ETag or Last-Modified it saw); a
 * 206 with the right Content-Range is appended, a 200 means the server ignores ranges or the file changed, so it
 * starts over. The caller verifies the result (size and hash); `dest` only appears once the body is complete.
 * On cancel the partial file is removed; on a network failure it is kept for the next run to resume.
 */
export async function downloadFile(url: string, dest: string, o: DownloadOptions = {}): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const metaFile = `${dest}.part.json`;
  const maxAttempts = o.maxAttempts ?? 5;
  let meta: PartMeta = { url, expectedSize: o.expectedSize };
  try {
    const prev = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as PartMeta;
    if (prev.url === url && prev.expectedSize === o.expectedSize) meta = prev;
  } catch {
    /* no previous partial download */
  }
  const partSize = (): number => {
    try {
      return fs.statSync(part).size;
    } catch {
      return 0;
    }
  };
  if (meta.etag === undefined && meta.lastModified === undefined) fs.rmSync(part, { force: true }); // nothing to validate a resume with
  const result: DownloadResult = { bytes: 0, attempts: 0, resumedFrom: [], restarts: 0 };
  const writeMeta = () => fs.writeFileSync(metaFile, JSON.stringify(meta));

  for (;;) {
    result.attempts++;
    let have = partSize();
    if (o.expectedSize !== undefined && have > o.expectedSize) {
      fs.rmSync(part, { force: true });
      have = 0;
    }
    try {
      const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
      if (have > 0) {
        headers.Range = `bytes=${have}-`;
        const validator = meta.etag && !meta.etag.startsWith('W/') ? meta.etag : meta.lastModified;
        if (validator) headers['If-Range'] = validator;
      }
      const res = await httpGet(url, headers, o);
      const status = res.statusCode ?? 0;
      let total: number | undefined;
      let append = false;
      if (status === 206 && have > 0) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== have) {
          // a range we did not ask for: drop it and start from zero
          res.destroy();
          fs.rmSync(part, { force: true });
          result.restarts++;
          continue;
        }
        total = m[3] === '*' ? undefined : Number(m[3]);
        append = true;
        result.resumedFrom.push(have);
      } else if (status === 200) {
        if (have > 0) result.restarts++;
        have = 0;
        const len = res.headers['content-length'];
        total = len !== undefined ? Number(len) : undefined;
      } else if (status === 416 && have > 0) {
        res.resume();
        if (o.expectedSize === have) break; // already complete
        fs.rmSync(part, { force: true });
        result.restarts++;
        continue;
      } else {
        res.resume();
        throw new HttpStatusError(status, url);
      }
      if (o.expectedSize !== undefined && total !== undefined && total !== o.expectedSize) {
        res.destroy();
        throw new InherituneError('E_INPUT', `${url} is ${total} bytes but the feed lists ${o.expectedSize}; nothing was installed`, { kind: 'integrity', url, got: total, expected: o.expectedSize });
      }
      meta = { url, expectedSize: o.expectedSize, etag: res.headers.etag, lastModified: res.headers['last-modified'] };
      writeMeta();
      let received = have;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          received += chunk.length;
          o.onBytes?.(received, total);
          cb(null, chunk);
        },
      });
      await pipeline(res, counter, fs.createWriteStream(part, { flags: append ? 'a' : 'w' }), { signal: o.signal });
      if (total !== undefined && received !== total) throw codedError('ECONNRESET', `connection closed after ${received} of ${total} bytes`);
      if (res.complete === false) throw codedError('ECONNRESET', `connection closed after ${received} bytes`);
      break;
    } catch (e) {
      if (isAbort(e, o.signal)) {
        fs.rmSync(part, { force: true });
        fs.rmSync(metaFile, { force: true });
        throw cancelled();
      }
      const retryable = isNetworkError(e) || (e instanceof HttpStatusError && e.status >= 500);
      if (!retryable || result.attempts >= maxAttempts) throw e;
      await sleep((o.retryDelayMs ?? 500) * 2 ** (result.attempts - 1), o.signal).catch((err) => {
        fs.rmSync(part, { force: true });
        fs.rmSync(metaFile, { force: true });
        throw err;
      });
    }
  }
  fs.renameSync(part, dest);
  fs.rmSync(metaFile, { force: true });
  result.bytes = fs.statSync(dest).size;
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Proxy settings

export interface ProxySettings {
  /** --proxy, or VS Code's http.proxy: wins over the environment. */
  explicit?: string;
  env?: Record<string, string | undefined>;
  /** Extra no-proxy entries (VS Code's http.noProxy). */
  noProxy?: string[];
}

/** Whether `url`'s host matches a NO_PROXY list (comma/space separated; `*`, `.example.com`, `example.com`, host:port). */
export function bypassesProxy(url: URL, noProxy: string[]): boolean {
  const host = stripBrackets(url.hostname).toLowerCase();
  const port = String(defaultPort(url));
  for (const raw of noProxy) {
    const e = raw.trim().toLowerCase();
    if (!e) continue;
    if (e === '*') return true;
    const [h, p] = e.startsWith('[') ? [e.slice(1, e.indexOf(']')), e.slice(e.indexOf(']') + 2) || undefined] : (e.split(':') as [string, string | undefined]);
    if (p && p !== port) continue;
    const name = h.replace(/^\*?\./, '');
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/**
 * The proxy to use per URL: the explicit setting, else HTTPS_PROXY/https_proxy for https (HTTP_PROXY/http_proxy
 * for http), unless NO_PROXY matches. Same precedence as curl.
 */
export function proxyResolver(s: ProxySettings): ProxyResolver {
  const env = s.env ?? {};
  const noProxy = [...(env.NO_PROXY ?? env.no_proxy ?? '').split(/[,\s]+/), ...(s.noProxy ?? [])];
  return (url: URL) => {
    if (bypassesProxy(url, noProxy)) return undefined;
    if (s.explicit) return s.explicit;
    const v = url.protocol === 'https:' ? env.HTTPS_PROXY ?? env.https_proxy ?? env.ALL_PROXY ?? env.all_proxy : env.http_proxy ?? env.HTTP_PROXY ?? env.ALL_PROXY ?? env.all_proxy;
    return v || undefined;
  };
}
