/**
 * Which pull-Secret credentials the kubelet tries for an image, and in which order.
 *
 * Written from the kubelet's own rules (k8s.io/kubernetes v1.34.4, built with Go 1.24.12):
 * - pkg/kubelet/images/image_manager.go `EnsureImageExists`: when a pull is needed, the image is
 *   reduced to its repository with `parsers.ParseImageName`, the pod's pull Secrets become a
 *   keyring with `secrets.MakeDockerKeyring`, and `keyring.Lookup(repoToPull)` gives the list;
 * - pkg/kubelet/kuberuntime/kuberuntime_image.go `PullImage`: the runtime is asked with each of
 *   them in turn until one pull succeeds. Only when the list is empty does it pull anonymously:
 *   a matching but wrong credential is never followed by an anonymous attempt;
 * - pkg/credentialprovider/secrets/secrets.go `secretsToTrackedDockerConfigs`: every Secret, in
 *   the pod's order, is `Add`ed to ONE `BasicDockerKeyring`, so Secrets are not tried one after
 *   the other: all keys of all Secrets are sorted together (see `sortedIndex`);
 * - pkg/credentialprovider/keyring.go (`Add`, `Lookup`, `URLsMatch`...) and config.go (decoding).
 *
 * The kubelet appends, after these, the node's own credentials (its config.json) and those of
 * credential provider plugins (`UnionDockerKeyring{secrets, node, plugins}`); they are not here.
 */

import { isIPv6 } from "node:net";

/** One credential the kubelet would hand to the container runtime. */
export interface Credential {
    /** The entry's name as written under `auths` in the Secret. */
    key: string;
    /** What `BasicDockerKeyring.Add` indexes it under (scheme and /v1/ or /v2/ removed). */
    indexKey: string;
    username: string;
    password: string;
    /** Position of its Secret in the list given (the pod's `imagePullSecrets` order). */
    secretIndex: number;
}

/** An image reference as `parsers.ParseImageName` splits it. */
export interface ImageName {
    /** `registry/repository`, what the kubelet looks credentials up for (no tag, no digest). */
    name: string;
    /** The domain (and port); "" when distribution/reference saw none (see `splitName`). */
    registry: string;
    repository: string;
    /** "latest" when the reference has neither tag nor digest, as ParseImageName defaults it. */
    tag: string;
    digest: string;
}

/**
 * A pull Secret the kubelet cannot read. `MakeDockerKeyring` returns the error, so every pull
 * the kubelet has to make for the pod fails, whatever registry the bad entry is for. (An image
 * already on the node under IfNotPresent is used without reading the Secrets, unless the alpha
 * KubeletEnsureSecretPulledImages gate is on.)
 */
export class PullSecretError extends Error {
    constructor(
        readonly secretIndex: number,
        message: string,
    ) {
        super(`pull secret #${secretIndex}: ${message}`);
        this.name = "PullSecretError";
    }
}

// ---------------------------------------------------------------------------------------------
// Image references: github.com/distribution/reference (v0.6) `ParseNormalizedNamed`, as called by
// k8s pkg/util/parsers `ParseImageName`. Regexps composed from that package's grammar.

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
const NAME_TOTAL_LENGTH_MAX = 255;

const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const DOMAIN_LABEL = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_AND_PORT = `(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const NAME = `(?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME}`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
// Hex digits of each digest algorithm the kubelet links in (it imports crypto/sha256 and sha512).
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * distribution/reference `splitDockerDomain`: the first component is a domain only if it is
 * "localhost", "index.docker.io", contains "." or ":", or has an upper-case letter; otherwise
 * the name is on Docker Hub, where a one-component name goes under "library/".
 */
function splitDockerDomain(image: string): [domain: string, remainder: string] {
    const slash = image.indexOf("/");
    if (slash < 0) {
        return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + image];
    }
    const first = image.slice(0, slash);
    const rest = image.slice(slash + 1);
    let [domain, remainder] = [DEFAULT_DOMAIN, image];
    if (first === LEGACY_DEFAULT_DOMAIN) {
        [domain, remainder] = [DEFAULT_DOMAIN, rest];
    } else if (first === "localhost" || /[.:]/.test(first) || first.toLowerCase() !== first) {
        [domain, remainder] = [first, rest];
    }
    if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) {
        remainder = OFFICIAL_REPO_PREFIX + remainder;
    }
    return [domain, remainder];
}

/** go-digest `Digest.Validate`: a known algorithm and exactly its length of lower-case hex. */
function checkDigest(digest: string): void {
    const [algorithm, hex] = [digest.slice(0, digest.indexOf(":")), digest.slice(digest.indexOf(":") + 1)];
    const length = DIGEST_HEX_LENGTH[algorithm];
    if (length === undefined) {
        throw new Error(`unsupported digest algorithm in ${JSON.stringify(digest)}`);
    }
    if (!new RegExp(`^[a-f0-9]{${length}}$`).test(hex)) {
        throw new Error(`invalid ${algorithm} digest ${JSON.stringify(digest)}`);
    }
}

/**
 * The name's domain and path as distribution/reference splits a parsed name: when the part
 * before the first "/" is not a valid domain it may still be a valid path component
 * ("my_registry.example/app"), and the name then has NO domain at all.
 */
function splitName(name: string): [registry: string, repository: string] {
    const match = NAME_RE.exec(name)!;
    return [match[1] ?? "", match[2]];
}

/**
 * `parsers.ParseImageName` (k8s pkg/util/parsers) on top of `ParseNormalizedNamed`: Docker Hub
 * normalisation ("nginx" → "docker.io/library/nginx", "index.docker.io/x" → "docker.io/library/x"),
 * then the strict reference grammar. Throws where the kubelet reports ErrInvalidImageName.
 */
export function parseImage(image: string): ImageName {
    if (/^[a-f0-9]{64}$/.test(image)) {
        throw new Error(`invalid repository name ${JSON.stringify(image)}: cannot specify 64-byte hexadecimal strings`);
    }
    const [domain, remainder] = splitDockerDomain(image);
    const remote = remainder.includes(":") ? remainder.slice(0, remainder.indexOf(":")) : remainder;
    if (remote.toLowerCase() !== remote) {
        throw new Error(`invalid reference format: repository name (${remote}) must be lowercase`);
    }
    const match = REFERENCE_RE.exec(`${domain}/${remainder}`);
    if (!match) {
        throw new Error(`invalid reference format: ${JSON.stringify(image)}`);
    }
    const [, name, tag = "", digest = ""] = match;
    const [registry, repository] = splitName(name);
    // The limit is on the path alone: the domain does not count.
    if (repository.length > NAME_TOTAL_LENGTH_MAX) {
        throw new Error(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
    }
    if (digest) {
        checkDigest(digest);
    }
    return { name, registry, repository, tag: (tag || digest) ? tag : "latest", digest };
}

// ---------------------------------------------------------------------------------------------
// Go's net/url `url.Parse`, the part the keyring relies on: host (with port) and path of
// "https://" + something. Invalid → null, which the keyring treats as "ignore" / "no match".

interface ParsedUrl {
    host: string;
    path: string;
}

// RFC 3986 characters Go's url package lets through unescaped in a host (`shouldEscape`, encodeHost).
const HOST_ASCII_OK = /^[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]$/;
const USERINFO_OK = /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/;

/** Go's `unescape`: each %XX becomes its byte; a malformed escape is an error (null). */
function percentDecode(text: string): string | null {
    if (!/^(?:[^%]|%[0-9A-Fa-f]{2})*$/.test(text)) {
        return null;
    }
    return text.includes("%") ? Buffer.from(unescapedBytes(text)).toString("utf8") : text;
}

/** The bytes of `text` with each %XX replaced by the byte it stands for. */
function unescapedBytes(text: string): number[] {
    const out: number[] = [];
    for (let i = 0; i < text.length; ) {
        if (text[i] === "%") {
            out.push(parseInt(text.slice(i + 1, i + 3), 16));
            i += 3;
        } else {
            const cp = text.codePointAt(i)!;
            const chunk = String.fromCodePoint(cp);
            out.push(...Buffer.from(chunk, "utf8"));
            i += chunk.length;
        }
    }
    return out;
}

/** Go's `unescape` in host mode: no ASCII that needs escaping, %XX only for non-ASCII bytes. */
function unescapeHost(host: string): string | null {
    for (const ch of host) {
        if (ch.codePointAt(0)! < 0x80 && ch !== "%" && !HOST_ASCII_OK.test(ch)) {
            return null; // invalid character in host name
        }
    }
    // %25 stays allowed: it introduces an IPv6 zone.
    return /%(?!25)[0-7]/.test(host) ? null : percentDecode(host);
}

/**
 * Go's `parseHost`, as in Go 1.24.12 (the Go of Kubernetes 1.34.4, .go-version): a '[' anywhere
 * but first is an error (the CVE-2025-47912 fix), and a bracketed host must be an IPv6 address;
 * otherwise what follows the LAST ':' must be digits.
 */
function parseHost(host: string): string | null {
    const open = host.lastIndexOf("[");
    if (open > 0) {
        return null; // invalid IP-literal
    }
    if (open === 0) {
        const close = host.lastIndexOf("]");
        const inside = close < 0 ? null : unescapeHost(host.slice(1, close));
        const colonPort = host.slice(close + 1);
        const valid = inside !== null && /^(?::[0-9]*)?$/.test(colonPort) && isIPv6(inside);
        return valid ? `[${inside}]${colonPort}` : null;
    }
    const colon = host.lastIndexOf(":");
    if (colon >= 0 && !/^:[0-9]*$/.test(host.slice(colon))) {
        return null; // invalid port after host
    }
    return unescapeHost(host);
}

/** `url.Parse("https://" + rest)` reduced to host and (unescaped) path; null when Go errs. */
function parseHttpsUrl(rest: string): ParsedUrl | null {
    const [noFragment, ...fragment] = rest.split("#");
    // Go refuses ASCII control characters before the fragment; the fragment is thrown away, but
    // a malformed %-escape in it still fails url.Parse.
    if (/[\x00-\x1f\x7f]/.test(noFragment) || percentDecode(fragment.join("#")) === null) {
        return null;
    }
    const withoutQuery = noFragment.split("?")[0];
    const slash = withoutQuery.indexOf("/");
    const authority = slash < 0 ? withoutQuery : withoutQuery.slice(0, slash);
    const rawPath = slash < 0 ? "" : withoutQuery.slice(slash);
    const at = authority.lastIndexOf("@");
    if (at >= 0 && (!USERINFO_OK.test(authority.slice(0, at)) || percentDecode(authority.slice(0, at)) === null)) {
        return null;
    }
    const host = parseHost(authority.slice(at + 1));
    const path = percentDecode(rawPath);
    return host === null || path === null ? null : { host, path };
}

/**
 * keyring.go `ParseSchemelessURL`: the key or image has no scheme, so one is lent for url.Parse.
 * Keys keep no scheme after `Add`, which is why a key's "http://" never matters.
 */
export function parseSchemelessUrl(schemeless: string): ParsedUrl | null {
    return parseHttpsUrl(schemeless);
}

/**
 * keyring.go `SplitURL`: the host's dot-separated labels and its port, by `net.SplitHostPort`;
 * a host SplitHostPort refuses (no port, too many colons) is kept whole with port "".
 */
export function splitUrl(url: ParsedUrl): { labels: string[]; port: string } {
    const hostPort = splitHostPort(url.host);
    const [host, port] = hostPort ?? [url.host, ""];
    return { labels: host.split("."), port };
}

/** Go's `net.SplitHostPort`, null where it returns an error. */
function splitHostPort(hostport: string): [string, string] | null {
    const colon = hostport.lastIndexOf(":");
    if (colon < 0) {
        return null; // missing port
    }
    let host = hostport.slice(0, colon);
    const port = hostport.slice(colon + 1);
    if (hostport.startsWith("[")) {
        const close = hostport.indexOf("]");
        if (close < 0 || close + 1 !== colon) {
            return null; // missing ']' or text between ']' and ':'
        }
        host = hostport.slice(1, close);
    } else if (host.includes(":")) {
        return null; // too many colons
    }
    return /[[\]]/.test(host) || /[[\]]/.test(port) ? null : [host, port];
}

// ---------------------------------------------------------------------------------------------
// Go's path/filepath `Match`, applied by URLsMatch to one host label at a time. Written from its
// documented grammar: '*' any run, '?' one character, '[' ['^'] ranges ']', '\\' escapes.

type GlobToken =
    | { kind: "star" }
    | { kind: "any" }
    | { kind: "char"; cp: number }
    | { kind: "class"; negated: boolean; ranges: [number, number][] };

/** One character of a class range (`c` or `\c`, never an unescaped '-' or ']'); null if bad. */
function readClassChar(cps: number[], at: number): [number, number] | null {
    const c = cps[at];
    if (c === undefined || c === 0x2d || c === 0x5d) {
        return null;
    }
    if (c === 0x5c) {
        return cps[at + 1] === undefined ? null : [cps[at + 1], at + 2];
    }
    return [c, at + 1];
}

/** A `[...]` class starting after its '['; null for ErrBadPattern (empty, unclosed, bad range). */
function readClass(cps: number[], start: number): [GlobToken, number] | null {
    let at = start;
    const negated = cps[at] === 0x5e;
    at += negated ? 1 : 0;
    const ranges: [number, number][] = [];
    while (!(cps[at] === 0x5d && ranges.length > 0)) {
        const lo = readClassChar(cps, at);
        if (!lo) {
            return null;
        }
        let [hi, next] = lo;
        if (cps[next] === 0x2d) {
            const end = readClassChar(cps, next + 1);
            if (!end) {
                return null;
            }
            [hi, next] = end;
        }
        ranges.push([lo[0], hi]);
        at = next;
    }
    return [{ kind: "class", negated, ranges }, at + 1];
}

/** The pattern as tokens, or null when Go's Match would return ErrBadPattern. */
function compileGlob(pattern: string): GlobToken[] | null {
    const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
    const tokens: GlobToken[] = [];
    for (let at = 0; at < cps.length; ) {
        const c = cps[at];
        if (c === 0x2a || c === 0x3f) {
            tokens.push({ kind: c === 0x2a ? "star" : "any" });
            at += 1;
        } else if (c === 0x5c) {
            if (at + 1 >= cps.length) {
                return null;
            }
            tokens.push({ kind: "char", cp: cps[at + 1] });
            at += 2;
        } else if (c === 0x5b) {
            const read = readClass(cps, at + 1);
            if (!read) {
                return null;
            }
            tokens.push(read[0]);
            at = read[1];
        } else {
            tokens.push({ kind: "char", cp: c });
            at += 1;
        }
    }
    return tokens;
}

/** Whether one token (not '*') accepts the character; '/' is Go's separator on Linux. */
function tokenAccepts(token: Exclude<GlobToken, { kind: "star" }>, cp: number): boolean {
    if (token.kind === "any") {
        return cp !== 0x2f;
    }
    if (token.kind === "char") {
        return token.cp === cp;
    }
    const inRange = token.ranges.some(([lo, hi]) => lo <= cp && cp <= hi);
    return inRange !== token.negated;
}

/**
 * `filepath.Match(pattern, name)` for one label; a malformed pattern never matches (Go returns
 * ErrBadPattern and URLsMatch, then Lookup, treat that as "no match"). Of its syntax only '*'
 * can reach it from a Secret: url.Parse refuses a '[' past the start of a host (at the start it
 * must open an IPv6 address), cuts a '?' off as a query, and refuses a '\' in a host.
 */
export function globMatch(pattern: string, name: string): boolean {
    const tokens = compileGlob(pattern);
    if (!tokens) {
        return false;
    }
    const cps = Array.from(name, (c) => c.codePointAt(0)!);
    // reach[j]: the tokens read so far can consume exactly the first j characters.
    let reach = cps.map(() => false).concat(false);
    reach[0] = true;
    for (const token of tokens) {
        const next = reach.map(() => false);
        for (let j = 0; j <= cps.length; j++) {
            if (token.kind === "star") {
                next[j] = reach[j] || (j > 0 && next[j - 1] && cps[j - 1] !== 0x2f);
            } else {
                next[j] = j > 0 && reach[j - 1] && tokenAccepts(token, cps[j - 1]);
            }
        }
        reach = next;
    }
    return reach[cps.length];
}

// ---------------------------------------------------------------------------------------------
// keyring.go: how a key matches an image.

/**
 * keyring.go `URLsMatch`: same port (a key without port never matches an image with one, and
 * the reverse), same number of host labels, each label glob-matching, and the key's path a
 * PLAIN STRING prefix of the image's path ("/team" matches "/teamx/app").
 */
export function urlsMatch(glob: ParsedUrl, target: ParsedUrl): boolean {
    const key = splitUrl(glob);
    const image = splitUrl(target);
    if (key.port !== image.port || key.labels.length !== image.labels.length) {
        return false;
    }
    if (!target.path.startsWith(glob.path)) {
        return false;
    }
    return key.labels.every((label, i) => globMatch(label, image.labels[i]));
}

/** keyring.go `URLsMatchStr`: both sides parsed as schemeless URLs; a parse error is no match. */
export function urlsMatchStr(glob: string, target: string): boolean {
    const globUrl = parseSchemelessUrl(glob);
    const targetUrl = parseSchemelessUrl(target);
    return globUrl !== null && targetUrl !== null && urlsMatch(globUrl, targetUrl);
}

/**
 * keyring.go `BasicDockerKeyring.Add`: the key an `auths` entry is indexed under. A missing
 * "http://"/"https://" (checked case-sensitively) is added for url.Parse, then only host and
 * path are kept; a path starting "/v1/" or "/v2/" loses those 3 characters, and a path of "/"
 * counts as none. null: url.Parse failed and the kubelet logs and skips the entry.
 */
export function keyringKey(loc: string): string | null {
    const hasScheme = loc.startsWith("https://") || loc.startsWith("http://");
    const parsed = parseHttpsUrl(hasScheme ? loc.slice(loc.indexOf("://") + 3) : loc);
    if (!parsed) {
        return null;
    }
    const path = /^\/v[12]\//.test(parsed.path) ? parsed.path.slice(3) : parsed.path;
    return path.length > 0 && path !== "/" ? parsed.host + path : parsed.host;
}

const DEFAULT_REGISTRY_HOST = "index.docker.io";

/**
 * keyring.go `isDefaultRegistryMatch`: whether Docker Hub credentials may be offered. True for
 * docker.io and index.docker.io, and for ANY first component without "." or ":", which after
 * normalisation includes "localhost/app".
 */
export function isDefaultRegistryMatch(image: string): boolean {
    const slash = image.indexOf("/");
    const first = slash < 0 ? image : image.slice(0, slash);
    if (first.length === 0) {
        return false;
    }
    if (slash < 0 || first === "docker.io" || first === DEFAULT_REGISTRY_HOST) {
        return true;
    }
    return !/[.:]/.test(first);
}

// ---------------------------------------------------------------------------------------------
// config.go: reading a `.dockerconfigjson` the way Go's encoding/json reads `DockerConfigJSON`.

interface ConfigEntry {
    username: string;
    password: string;
}

/** A JSON object as Go's decoder walks it: every member in document order, duplicates kept. */
class JsonObject {
    constructor(readonly members: [string, JsonValue][]) {}
}

type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

const JSON_SPACE = /[ \t\n\r]*/y;
const JSON_STRING = /"(?:[^"\\]|\\.)*"/y;
const JSON_SCALAR = /true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * JSON with duplicate members kept: JSON.parse keeps only the last, Go's decoder applies each in
 * turn (two "auths" objects are merged, a later `"username": null` leaves the earlier value).
 * JSON.parse runs first, so that text Go refuses as JSON is refused here too.
 */
function parseJson(text: string): JsonValue {
    JSON.parse(text);
    let at = 0;
    const read = (token: RegExp): string => {
        token.lastIndex = at;
        const found = token.exec(text)![0];
        at += found.length;
        return found;
    };
    // Calls `item` for each element up to `close`, the opening bracket being at `at`.
    const each = (close: string, item: () => void): void => {
        at += 1;
        read(JSON_SPACE);
        for (let done = text[at] === close; !done; ) {
            item();
            read(JSON_SPACE);
            done = text[at] === close;
            at += done ? 0 : 1; // the ','
        }
        at += 1;
    };
    const value = (): JsonValue => {
        read(JSON_SPACE);
        if (text[at] === "{") {
            const members: [string, JsonValue][] = [];
            each("}", () => {
                read(JSON_SPACE);
                const key = JSON.parse(read(JSON_STRING)) as string;
                read(JSON_SPACE);
                at += 1; // the ':'
                members.push([key, value()]);
            });
            return new JsonObject(members);
        }
        if (text[at] === "[") {
            const items: JsonValue[] = [];
            each("]", () => items.push(value()));
            return items;
        }
        return JSON.parse(read(text[at] === '"' ? JSON_STRING : JSON_SCALAR)) as JsonValue;
    };
    return value();
}

function kind(value: JsonValue): string {
    return value instanceof JsonObject ? "object" : Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

/**
 * encoding/json matches a JSON key to a struct field case-insensitively (Unicode simple folding:
 * "Auths", "AUTHS" and "authſ" all fill `auths`).
 */
function isField(key: string, field: string): boolean {
    return key.replace(/\u017f/g, "s").toLowerCase() === field;
}

/** An object's members; null (which leaves a Go struct or map as it was) has none. */
function membersOf(value: JsonValue, what: string): [string, JsonValue][] {
    if (value === null || value instanceof JsonObject) {
        return value?.members ?? [];
    }
    throw new Error(`${what} must be an object, not ${kind(value)}`);
}

/** A string field: JSON null leaves the Go string as it was; any other type is an error. */
function stringField(value: JsonValue, what: string): string | undefined {
    if (value === null || typeof value === "string") {
        return value ?? undefined;
    }
    throw new Error(`${what} must be a string, not ${kind(value)}`);
}

/**
 * config.go `decodeDockerConfigFieldAuth`: base64 (padded if the trimmed value ends with "=",
 * unpadded otherwise; Go's decoder skips only \r and \n), then split at the FIRST colon, so the
 * password may contain colons and the user name may not. (Bytes that are not UTF-8 come out as
 * U+FFFD here; the kubelet passes them on as they are.)
 */
export function decodeAuth(field: string): ConfigEntry {
    const padded = field.trim().endsWith("=");
    const data = field.replace(/[\r\n]/g, "");
    const shape = padded
        ? /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
        : /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2,3})?$/;
    if (!shape.test(data)) {
        throw new Error(`auth is not ${padded ? "padded" : "unpadded"} standard base64`);
    }
    const decoded = Buffer.from(data, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) {
        throw new Error("unable to parse auth field, must be formatted as base64(username:password)");
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * config.go `DockerConfigEntry.UnmarshalJSON`: username/password as given, but a non-empty
 * `auth` REPLACES both (even when they are present); a bad `auth` is an error. A JSON null entry
 * is an entry with empty fields.
 */
function readEntry(value: JsonValue, loc: string): ConfigEntry {
    const fields = { username: "", password: "", email: "", auth: "" };
    for (const [key, raw] of membersOf(value, `auths[${JSON.stringify(loc)}]`)) {
        const field = (Object.keys(fields) as (keyof typeof fields)[]).find((f) => isField(key, f));
        if (field) {
            fields[field] = stringField(raw, `auths[${JSON.stringify(loc)}].${field}`) ?? fields[field];
        }
    }
    return fields.auth.length > 0 ? decodeAuth(fields.auth) : { username: fields.username, password: fields.password };
}

/**
 * config.go `DockerConfigJSON` as json.Unmarshal fills it from a Secret's `.dockerconfigjson`:
 * the `auths` entries in document order. Throws where the kubelet gets an error. `HttpHeaders`
 * plays no part in matching, but a wrong type there fails the whole Secret too.
 */
export function readDockerConfigJson(text: string): [string, ConfigEntry][] {
    let auths = new Map<string, ConfigEntry>();
    for (const [key, value] of membersOf(parseJson(text), "a .dockerconfigjson")) {
        if (isField(key, "auths")) {
            // JSON null sets the Go map to nil; an object adds to (or replaces in) the map so far.
            auths = value === null ? new Map() : auths;
            for (const [loc, entry] of membersOf(value, "auths")) {
                auths.set(loc, readEntry(entry, loc));
            }
        } else if (isField(key, "httpheaders")) {
            membersOf(value, "HttpHeaders").forEach(([name, header]) => stringField(header, `HttpHeaders.${name}`));
        }
    }
    return [...auths];
}

// ---------------------------------------------------------------------------------------------
// The keyring: secrets.go `secretsToTrackedDockerConfigs` + keyring.go `Add` and `Lookup`.

interface Keyring {
    /** Keys in the order Lookup walks them. */
    index: string[];
    creds: Map<string, Credential[]>;
}

/**
 * keyring.go `Add`: the keys deduplicated (`sets.NewString(...).List()`, sorted by bytes) then
 * reversed. Reverse byte order, not length: "quay.io/coreos" comes before "quay.io" because it
 * extends it, but "registry.example.org" also comes before "*.example.org" ('r' > '*').
 */
function sortedIndex(keys: Iterable<string>): string[] {
    return [...new Set(keys)].sort((a, b) => Buffer.compare(Buffer.from(b), Buffer.from(a)));
}

/**
 * secrets.go: each non-empty Secret, in order, is decoded and `Add`ed to the same keyring; under
 * one key, credentials keep that order (Secret order, then order within the Secret; Go's map
 * iteration makes the latter random when two entries of one Secret share a key).
 */
function buildKeyring(dockerConfigs: string[]): Keyring {
    const creds = new Map<string, Credential[]>();
    dockerConfigs.forEach((text, secretIndex) => {
        if (text.length === 0) {
            return; // MakeDockerKeyring skips a Secret whose data is empty
        }
        let entries: [string, ConfigEntry][];
        try {
            entries = readDockerConfigJson(text);
        } catch (err) {
            throw new PullSecretError(secretIndex, (err as Error).message);
        }
        for (const [key, entry] of entries) {
            const indexKey = keyringKey(key);
            if (indexKey !== null) {
                creds.set(indexKey, [...(creds.get(indexKey) ?? []), { key, indexKey, ...entry, secretIndex }]);
            }
        }
    });
    return { index: sortedIndex(creds.keys()), creds };
}

/**
 * keyring.go `BasicDockerKeyring.Lookup` on the repository name the kubelet passes (already
 * normalised, e.g. "docker.io/library/nginx"): the credentials of EVERY matching key, keys in
 * index order. Only if none matches, and the name may be Docker Hub's, the credentials indexed
 * under exactly "index.docker.io" (from "https://index.docker.io/v1/" and the like).
 */
export function lookupCredentials(repository: string, dockerConfigs: string[]): Credential[] {
    const keyring = buildKeyring(dockerConfigs);
    const matched = keyring.index.filter((key) => urlsMatchStr(key, repository)).flatMap((key) => keyring.creds.get(key)!);
    if (matched.length > 0) {
        return matched;
    }
    return isDefaultRegistryMatch(repository) ? (keyring.creds.get(DEFAULT_REGISTRY_HOST) ?? []) : [];
}

/**
 * The credentials the kubelet tries, in order, to pull `image` for a pod whose pull Secrets
 * hold `dockerConfigs` (each a `.dockerconfigjson`, in the pod's order). Empty: the kubelet
 * pulls anonymously (unless the node or a plugin has credentials). Throws for an invalid image
 * and `PullSecretError` for an unreadable Secret: in both cases the kubelet pulls nothing.
 */
export function credentialsFor(image: string, dockerConfigs: string[]): Credential[] {
    return lookupCredentials(parseImage(image).name, dockerConfigs);
}
