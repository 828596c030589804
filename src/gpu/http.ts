/**
 * The installer's HTTP: JSON from the NuGet feed, and a download that resumes with HTTP Range when the server
 * honours it and restarts when it does not. undici does the protocol (fetch: redirects, gzip; EnvHttpProxyAgent:
 * proxies through a CONNECT tunnel, with credentials from the proxy URL and NO_PROXY); this module adds what no
 * library does for us: the `.part` file and its validators (ETag / Last-Modified) across runs, the checks of a
 * 206 answer, retries with backoff, and errors that say which host, proxy or certificate failed.
 */
import * as fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EnvHttpProxyAgent, fetch } from 'undici';
import type { Response } from 'undici';
import { cancelled, InherituneError } from '../errors';
import { proxyOptions, ProxySettings } from './proxy';

export interface HttpOptions {
  /** One proxy URL (http://[user:pass@]host:port) for every request, or the settings to pick one per URL. */
  proxy?: string | ProxySettings;
  signal?: AbortSignal;
  /** Connect, headers and body-idle timeout (ms); default 30 s. */
  timeoutMs?: number;
  /** Extra CA certificates (PEM) to trust, e.g. a corporate TLS-inspecting proxy's. */
  ca?: string | Buffer | (string | Buffer)[];
  /** false only when the user turned certificate checks off (VS Code's http.proxyStrictSSL). */
  rejectUnauthorized?: boolean;
}

/** Errors that mean "could not talk to the server at all" (worth a retry; the offline advice if they persist). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_PROXY',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export function isNetworkError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}

/** Only the caller's signal cancels: undici names some of its own failures AbortError (a refused proxy tunnel). */
export function isAbort(_e: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted;
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

/** A dispatcher for one call (getJson, downloadFile), destroyed at its end so that no socket outlives it. */
function agentFor(o: HttpOptions): EnvHttpProxyAgent {
  const p = proxyOptions(o.proxy);
  for (const u of [p.httpProxy, p.httpsProxy]) {
    if (!u) continue;
    try {
      new URL(u);
    } catch {
      throw new InherituneError('E_ARGS', `proxy "${u}" is not a URL; use http://host:port (or http://user:password@host:port)`);
    }
  }
  const ms = o.timeoutMs ?? 30_000;
  const tls = { ca: o.ca, rejectUnauthorized: o.rejectUnauthorized };
  return new EnvHttpProxyAgent({
    ...p,
    connect: { ...tls, timeout: ms },
    requestTls: tls, // TLS to the server inside a proxy tunnel
    proxyTls: tls, // TLS to an https:// proxy
    headersTimeout: ms,
    bodyTimeout: ms,
  });
}

/**
 * undici's fetch rejects with TypeError('fetch failed') and the real error (with its code) as the cause; give
 * the caller that one, with the host, or the proxy's answer to the tunnel, in its message.
 */
function explain(e: unknown, url: string, o: HttpOptions): unknown {
  if (e instanceof InherituneError || e instanceof HttpStatusError) return e;
  let c = e;
  // fetch failed → (DOMException →) the socket's or the proxy agent's error: the innermost says why
  for (let i = 0; i < 4 && c instanceof Error && c.cause instanceof Error; i++) c = c.cause;
  if (c instanceof AggregateError && c.errors.length) c = c.errors[0]; // several addresses tried: the first says why
  if (!(c instanceof Error)) return c;
  const u = new URL(url);
  const tunnel = /^Proxy response \((\d+)\) !== 200/.exec(c.message);
  if (tunnel) {
    const p = proxyOptions(o.proxy);
    const proxy = new URL((u.protocol === 'https:' ? p.httpsProxy : p.httpProxy) || p.httpProxy || p.httpsProxy || 'http://proxy').host;
    const status = Number(tunnel[1]);
    const hint = status === 407 ? ' (proxy authentication required: put user:password in the proxy URL)' : '';
    return codedError('ERR_PROXY', `proxy ${proxy} refused CONNECT ${u.host}: HTTP ${status}${hint}`);
  }
  // a socket error names the address it tried: when that is a proxy's, say so rather than blame the server
  const sys = c as { code?: unknown; address?: string; port?: number };
  const p = proxyOptions(o.proxy);
  const proxy = [p.httpProxy, p.httpsProxy]
    .filter(Boolean)
    .map((x) => new URL(x))
    .find(
      (x) =>
        sys.address !== undefined &&
        x.hostname.replace(/^\[|\]$/g, '') === sys.address &&
        Number(x.port || (x.protocol === 'https:' ? 443 : 80)) === sys.port,
    );
  const where = proxy ? `proxy ${proxy.host}` : u.host;
  if (c.message.includes(where)) return c;
  return Object.assign(new Error(`${where}: ${c.message}`, { cause: c }), { code: sys.code });
}

/** One GET through the agent. fetch refuses the ports browsers block (1, 9, 6000, ...): no NuGet feed uses them. */
async function get(url: string, headers: Record<string, string>, o: HttpOptions, agent: EnvHttpProxyAgent): Promise<Response> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InherituneError('E_ARGS', `unsupported URL ${url} (http or https only)`);
  try {
    return await fetch(url, {
      headers: { 'User-Agent': 'inheritune-studio (install-gpu)', ...headers },
      signal: o.signal,
      dispatcher: agent,
      redirect: 'follow',
    });
  } catch (e) {
    throw explain(e, url, o);
  }
}

/** Read a response body, refusing more than `limit` bytes (the feed is not trusted to be small). */
async function readBody(res: Response, url: string, limit = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body ?? []) {
    n += c.length;
    if (n > limit) {
      await res.body?.cancel();
      throw new InherituneError('E_IO', `response from ${url} is larger than ${limit} bytes`);
    }
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks);
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

/** GET JSON; undefined on 404/410. Network errors and 5xx are retried (2 attempts by default). */
export async function getJson<T>(url: string, o: HttpOptions & RetryOptions = {}): Promise<T | undefined> {
  const attempts = o.maxAttempts ?? 2;
  const agent = agentFor(o);
  try {
    for (let i = 1; ; i++) {
      try {
        const res = await get(url, { Accept: 'application/json', 'Accept-Encoding': 'gzip, deflate, br' }, o, agent);
        if (res.status === 404 || res.status === 410) {
          await res.body?.cancel();
          return undefined;
        }
        if (res.status !== 200) {
          await res.body?.cancel();
          if (res.status >= 500 && i < attempts) {
            await sleep((o.retryDelayMs ?? 500) * 2 ** (i - 1), o.signal);
            continue;
          }
          throw new HttpStatusError(res.status, url);
        }
        const body = await readBody(res, url).catch((e: unknown) => Promise.reject(explain(e, url, o)));
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
  } finally {
    await agent.destroy();
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
 * (undici's RetryAgent resumes within one call only, and keeps nothing on disk for the next run.)
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
  const dropPart = () => {
    fs.rmSync(part, { force: true });
    fs.rmSync(metaFile, { force: true });
  };

  const agent = agentFor(o);
  try {
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
        const res = await get(url, headers, o, agent);
        let total: number | undefined;
        let append = false;
        if (res.status === 206 && have > 0) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
          if (!m || Number(m[1]) !== have) {
            // a range we did not ask for: drop it and start from zero
            await res.body?.cancel();
            fs.rmSync(part, { force: true });
            result.restarts++;
            continue;
          }
          total = m[3] === '*' ? undefined : Number(m[3]);
          append = true;
          result.resumedFrom.push(have);
        } else if (res.status === 200) {
          if (have > 0) result.restarts++;
          have = 0;
          const len = res.headers.get('content-length');
          total = len !== null ? Number(len) : undefined;
        } else if (res.status === 416 && have > 0) {
          await res.body?.cancel();
          if (o.expectedSize === have) break; // already complete
          fs.rmSync(part, { force: true });
          result.restarts++;
          continue;
        } else {
          await res.body?.cancel();
          throw new HttpStatusError(res.status, url);
        }
        if (o.expectedSize !== undefined && total !== undefined && total !== o.expectedSize) {
          await res.body?.cancel();
          throw new InherituneError('E_INPUT', `${url} is ${total} bytes but the feed lists ${o.expectedSize}; nothing was installed`, {
            kind: 'integrity',
            url,
            got: total,
            expected: o.expectedSize,
          });
        }
        meta = {
          url,
          expectedSize: o.expectedSize,
          etag: res.headers.get('etag') ?? undefined,
          lastModified: res.headers.get('last-modified') ?? undefined,
        };
        writeMeta();
        let received = have;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            received += chunk.length;
            o.onBytes?.(received, total);
            cb(null, chunk);
          },
        });
        if (!res.body) throw codedError('ECONNRESET', `no body from ${url}`);
        const file = fs.createWriteStream(part, { flags: append ? 'a' : 'w' });
        try {
          await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), counter, file, { signal: o.signal });
        } catch (e) {
          // pipeline settles when the body fails, while a write may still be landing: the next attempt's Range
          // must start where the file really ends
          await new Promise<void>((r) => (file.closed ? r() : file.once('close', () => r())));
          throw explain(e, url, o);
        }
        if (total !== undefined && received !== total)
          throw codedError('ECONNRESET', `connection closed after ${received} of ${total} bytes`);
        break;
      } catch (e) {
        if (isAbort(e, o.signal)) {
          dropPart();
          throw cancelled();
        }
        const retryable = isNetworkError(e) || (e instanceof HttpStatusError && e.status >= 500);
        if (!retryable || result.attempts >= maxAttempts) throw e;
        await sleep((o.retryDelayMs ?? 500) * 2 ** (result.attempts - 1), o.signal).catch((err: unknown) => {
          dropPart();
          throw err;
        });
      }
    }
  } finally {
    await agent.destroy();
  }
  fs.renameSync(part, dest);
  fs.rmSync(metaFile, { force: true });
  result.bytes = fs.statSync(dest).size;
  return result;
}
