// The model manifest, schema/model-manifest.v1.schema.json, as the CLI writes and reads it, and the S3
// layout around it: <prefix>models/<model>/files/<path> for every file of the folder, then
// <prefix>models/<model>/manifest.json, written last (its presence means the push completed). The
// runtime pulls by the same file (branch weights-pull; docs/models.md). Nothing here restates the
// schema: the path rule is the schema's own pattern.
import schema from '../../../schema/model-manifest.v1.schema.json' with { type: 'json' };

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
}

export interface ModelManifest {
  version: 1;
  model: string;
  createdAt: string;
  totalBytes: number;
  files: ManifestFile[];
}

export const MANIFEST_SCHEMA = schema;
export const MANIFEST_NAME = 'manifest.json';
/** The user metadata every pushed object carries: the hex SHA-256 of the whole file (x-amz-meta-sha256). */
export const SHA256_METADATA = 'sha256';
/** S3's limit on a key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

const pathSpec = schema.$defs.file.properties.path;
const PATH_PATTERN = new RegExp(pathSpec.pattern);
const DOT_SEGMENT = new RegExp(pathSpec.not.pattern);

export const modelsPrefix = (prefix: string): string => `${prefix}models/`;
export const modelPrefix = (prefix: string, model: string): string => `${modelsPrefix(prefix)}${model}/`;
export const filesPrefix = (prefix: string, model: string): string => `${modelPrefix(prefix, model)}files/`;
export const manifestKey = (prefix: string, model: string): string => `${modelPrefix(prefix, model)}${MANIFEST_NAME}`;
export const fileKey = (prefix: string, model: string, path: string): string => `${filesPrefix(prefix, model)}${path}`;

/** Why a relative path cannot be a manifest path (and so an object name), or undefined when it can. */
export function pathProblem(path: string, keyPrefix = ''): string | undefined {
  if (path.length < pathSpec.minLength || path.length > pathSpec.maxLength) return `its length must be ${pathSpec.minLength} to ${pathSpec.maxLength} characters`;
  if (!PATH_PATTERN.test(path) || DOT_SEGMENT.test(path)) return 'a manifest path has no backslash, control character, empty, "." or ".." segment';
  if (Buffer.byteLength(keyPrefix + path) > MAX_KEY_BYTES) return `its S3 key would exceed ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/** Code point order (= UTF-8 byte order), the order the manifest lists files in: the same in Python's sorted(). */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function buildManifest(model: string, files: readonly ManifestFile[], createdAt: Date): ModelManifest {
  const sorted = files.map(({ path, size, sha256 }) => ({ path, size, sha256 })).sort((a, b) => comparePaths(a.path, b.path));
  return { version: 1, model, createdAt: createdAt.toISOString(), totalBytes: sorted.reduce((n, f) => n + f.size, 0), files: sorted };
}

export interface ManifestDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

/** What differs between two file lists (createdAt is not content). */
export function diffManifestFiles(before: readonly ManifestFile[], after: readonly ManifestFile[]): ManifestDiff {
  const old = new Map(before.map((f) => [f.path, f]));
  const now = new Map(after.map((f) => [f.path, f]));
  return {
    added: after.filter((f) => !old.has(f.path)).map((f) => f.path),
    removed: before.filter((f) => !now.has(f.path)).map((f) => f.path),
    changed: after.filter((f) => old.has(f.path) && (old.get(f.path)!.sha256 !== f.sha256 || old.get(f.path)!.size !== f.size)).map((f) => f.path),
  };
}

export const isSameContent = (d: ManifestDiff): boolean => d.added.length + d.removed.length + d.changed.length === 0;

type Validate = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null };

let validatorCache: Promise<Validate> | undefined;
/** ajv loaded and the schema compiled on first use (push and list only; `--help` never pays for it). */
function manifestValidator(): Promise<Validate> {
  validatorCache ??= (async () => {
    const [ajvModule, formatsModule] = await Promise.all([import('ajv/dist/2020.js'), import('ajv-formats')]);
    // Both are CommonJS with `exports.default`: reached as .default.default from ESM, .default from the CJS bundle.
    const Ajv2020 = ajvModule.default.default ?? ajvModule.default;
    const addFormats = formatsModule.default.default ?? formatsModule.default;
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    return ajv.compile(MANIFEST_SCHEMA) as Validate;
  })();
  return validatorCache;
}

export type ManifestRead = { ok: true; manifest: ModelManifest } | { ok: false; problem: string };

/** Parses and validates a manifest: the schema, then what it cannot say (sorted, unique paths, the sum). */
export async function parseManifest(text: string): Promise<ManifestRead> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `not JSON (${(err as Error).message})` };
  }
  const validate = await manifestValidator();
  if (!validate(doc)) {
    const e = validate.errors?.[0];
    return { ok: false, problem: `${e?.instancePath || '(document)'} ${e?.message ?? 'is not valid'}` };
  }
  const manifest = doc as ModelManifest;
  for (let i = 1; i < manifest.files.length; i++) {
    if (comparePaths(manifest.files[i - 1]!.path, manifest.files[i]!.path) >= 0) return { ok: false, problem: `/files/${i} "${manifest.files[i]!.path}" is out of order or repeated` };
  }
  const sum = manifest.files.reduce((n, f) => n + f.size, 0);
  if (sum !== manifest.totalBytes) return { ok: false, problem: `totalBytes ${manifest.totalBytes} is not the sum of the sizes (${sum})` };
  return { ok: true, manifest };
}
