/**
 * NuGet v3 resolution, the same way onnxruntime-node's script/install-utils.js does it (service index →
 * PackageBaseAddress/3.0.0 → `{base}{id}/index.json` lists the version → `{base}{id}/{v}/{id}.{v}.nupkg`), plus the
 * integrity data the feed publishes: the registration leaf `{RegistrationsBaseUrl}{id}/{v}.json` names the catalog
 * leaf, whose `packageHash` (base64 SHA-512, `packageHashAlgorithm`) and `packageSize` describe the .nupkg.
 * NuGet publishes no SHA-256 and no `.nupkg.sha512` file (that one is written by NuGet clients into the local
 * packages folder), so SHA-512 from the catalog is the feed's own checksum.
 * Hand-written: it is four JSON GETs, and npm has no maintained NuGet v3 client (its NuGet packages publish or
 * parse versions); the HTTP itself is undici's (http.ts).
 */
import { InherituneError } from '../errors';
import { getJson, HttpOptions, RetryOptions } from './http';

export interface ResolvedPackage {
  id: string;
  version: string;
  feedIndex: string;
  nupkgUrl: string;
  /** base64 SHA-512 of the .nupkg, from the catalog; undefined when the feed offers none (reason in hashNote). */
  sha512?: string;
  size?: number;
  /** Where the hash came from, or why there is none. */
  hashNote: string;
}

interface ServiceIndex {
  resources?: { '@id': string; '@type': string | string[] }[];
}

const REGISTRATION_TYPES = [
  'RegistrationsBaseUrl/3.6.0',
  'RegistrationsBaseUrl/3.4.0',
  'RegistrationsBaseUrl/Versioned',
  'RegistrationsBaseUrl/3.0.0-rc',
  'RegistrationsBaseUrl/3.0.0-beta',
  'RegistrationsBaseUrl',
];

function resource(index: ServiceIndex, type: string): string | undefined {
  const r = index.resources?.find((x) => (Array.isArray(x['@type']) ? x['@type'] : [x['@type']]).includes(type));
  return r ? (r['@id'].endsWith('/') ? r['@id'] : `${r['@id']}/`) : undefined;
}

/** Resolve one package version on one feed; InherituneError E_NOT_FOUND when the feed does not have it. */
export async function resolveNugetPackage(
  feedIndex: string,
  id: string,
  version: string,
  o: HttpOptions & RetryOptions,
): Promise<ResolvedPackage> {
  const index = await getJson<ServiceIndex>(feedIndex, o);
  if (!index) throw new InherituneError('E_NOT_FOUND', `no NuGet service index at ${feedIndex}`);
  const base = resource(index, 'PackageBaseAddress/3.0.0');
  if (!base) throw new InherituneError('E_RUNTIME', `the NuGet feed ${feedIndex} has no PackageBaseAddress/3.0.0 resource`);
  const idl = id.toLowerCase();
  const vl = version.toLowerCase();
  const versions = await getJson<{ versions?: string[] }>(`${base}${idl}/index.json`, o);
  if (!versions?.versions?.map((v) => v.toLowerCase()).includes(vl)) {
    throw new InherituneError(
      'E_NOT_FOUND',
      `${id} ${version} is not on ${feedIndex} (${base}${idl}/index.json ${versions ? `lists ${versions.versions?.slice(-5).join(', ')}` : 'does not exist'})`,
    );
  }
  const nupkgUrl = `${base}${idl}/${vl}/${idl}.${vl}.nupkg`;
  const out: ResolvedPackage = { id, version, feedIndex, nupkgUrl, hashNote: '' };

  const reg = REGISTRATION_TYPES.map((t) => resource(index, t)).find(Boolean);
  if (!reg) return { ...out, hashNote: `the feed has no RegistrationsBaseUrl resource, so no package hash` };
  const leafUrl = `${reg}${idl}/${vl}.json`;
  const leaf = await getJson<{
    catalogEntry?: string | { '@id'?: string; packageHash?: string; packageHashAlgorithm?: string; packageSize?: number };
  }>(leafUrl, o);
  if (!leaf?.catalogEntry) return { ...out, hashNote: `${leafUrl} has no catalogEntry, so no package hash` };
  let catalog = typeof leaf.catalogEntry === 'object' ? leaf.catalogEntry : undefined;
  const catalogUrl = typeof leaf.catalogEntry === 'string' ? leaf.catalogEntry : leaf.catalogEntry['@id'];
  if (!catalog?.packageHash && catalogUrl) catalog = await getJson(catalogUrl, o);
  if (!catalog?.packageHash) return { ...out, hashNote: `the catalog entry ${catalogUrl ?? leafUrl} has no packageHash` };
  const algo = String(catalog.packageHashAlgorithm ?? 'SHA512')
    .toUpperCase()
    .replace('-', '');
  if (algo !== 'SHA512') return { ...out, hashNote: `the catalog's packageHashAlgorithm is ${catalog.packageHashAlgorithm}, not SHA512` };
  return {
    ...out,
    sha512: catalog.packageHash,
    size: typeof catalog.packageSize === 'number' ? catalog.packageSize : undefined,
    hashNote: `SHA-512 from ${catalogUrl ?? leafUrl}`,
  };
}

/** Normalise a SHA-512 given as base64 (nuget.org's form) or hex, to base64; undefined if it is neither. */
export function normaliseSha512(s: string): string | undefined {
  const t = s.trim().replace(/^sha512[-:]/i, '');
  if (/^[0-9a-f]{128}$/i.test(t)) return Buffer.from(t, 'hex').toString('base64');
  if (/^[A-Za-z0-9+/]{86}==$/.test(t)) return t;
  return undefined;
}
