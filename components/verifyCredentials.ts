/**
 * Checks registry credentials against the registries themselves, as `docker login` does:
 * `GET /v2/`, then the auth challenge it answers with.
 *
 * Runs inside `pulumi preview`, so it only reads: GET requests, no push, no token kept.
 * - 200 to an anonymous `/v2/` with no challenge: the registry asks for no credentials, so none
 *   can be wrong (`docker login` reports success there too).
 * - `Basic` challenge: `/v2/` again with the credentials; 200 is ok, 401/403 rejected.
 * - `Bearer realm=...,service=...[,scope=...]`: the realm (token service) with the credentials
 *   as Basic auth; 401/403 rejected; a token is then shown to `/v2/`, which must answer 200.
 * Every message names the server and the cause, never the password, auth header or token.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import type { Problem } from "./config";
import { basicAuth } from "./dockerConfig";

export interface RegistryProbe {
    /** Key path of the registry entry, e.g. "registries[0]". */
    path: string;
    server: string;
    username: string;
    password: string;
}

export interface VerifyOptions {
    /** Per registry, for all of its requests together; default 10000. */
    timeoutMs?: number;
    /** Extra PEM CA certificate(s), trusted along with Node's default roots. */
    caBundle?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
// A token response is a few KB; anything larger is not one.
const MAX_BODY = 1 << 20;

// Connection failures: nothing answered at that address.
export const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "ETIMEDOUT", "EPIPE"]);
// OpenSSL's verification codes and Node's own TLS and SSL codes.
export const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS_|^ERR_SSL_|^EPROTO$/;

/** A failed check with its cause and fix already worded; `status` when credentials were refused (401/403). */
export class Failure extends Error {
    constructor(
        readonly cause: string,
        readonly fix: string,
        readonly status?: number,
    ) {
        super(cause);
    }
}

/** A request that did not get an answer; `where` says which one. */
export class RequestError extends Error {
    constructor(
        readonly code: string | undefined,
        readonly where: string,
    ) {
        super(where);
    }
}

export interface Reply {
    status: number;
    challenge?: string;
    body: string;
    headers: http.IncomingHttpHeaders;
}

export interface Context {
    ca?: string[];
    signal: AbortSignal;
}

/** Checks each probe concurrently; one Problem per probe that failed. */
export async function verifyCredentials(probes: RegistryProbe[], opts: VerifyOptions = {}): Promise<Problem[]> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Given explicitly, `ca` replaces Node's roots: keep them and add the bundle.
    const ca = opts.caBundle ? [...tls.rootCertificates, opts.caBundle] : undefined;
    const results = await Promise.all(probes.map((probe) => verifyOne(probe, timeoutMs, ca)));
    return results.filter((p): p is Problem => p !== undefined);
}

async function verifyOne(probe: RegistryProbe, timeoutMs: number, ca: string[] | undefined): Promise<Problem | undefined> {
    const base = registryBase(probe.server);
    if (!base) {
        return { path: probe.path, message: "server is not host[:port] or an http(s):// URL", fix: "write host[:port][/path] or an http(s):// URL" };
    }
    const signal = AbortSignal.timeout(timeoutMs);
    try {
        await login(base, probe, { ca, signal });
        return undefined;
    } catch (err) {
        const { cause, fix } = explain(err, probe.path, signal.aborted ? timeoutMs : undefined);
        return { path: probe.path, message: `${probe.server}: ${cause}`, fix };
    }
}

// Docker Hub's other names for itself; its registry API answers at registry-1.docker.io, as
// docker uses (moby registry package: DefaultV2Registry).
const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io"]);

/**
 * The registry's base URL: `http://` only when written so, HTTPS otherwise; host[:port] only,
 * any path dropped (Docker Hub's `https://index.docker.io/v1/` becomes https://registry-1.docker.io).
 */
export function registryBase(server: string): URL | undefined {
    const m = /^(?:(https?):\/\/)?([^/?#@\s]+)(?:[/?#]|$)/i.exec(server.trim());
    if (!m) {
        return undefined;
    }
    try {
        const host = DOCKER_HUB_HOSTS.has(m[2].toLowerCase()) ? "registry-1.docker.io" : m[2];
        // URL lowercases the scheme and host.
        return new URL(`${m[1] ?? "https"}://${host}`);
    } catch {
        return undefined;
    }
}

async function login(base: URL, probe: RegistryProbe, ctx: Context): Promise<void> {
    const v2 = new URL("/v2/", base);
    const basic = `Basic ${basicAuth(probe.username, probe.password)}`;
    const anonymous = await get(v2, {}, ctx, "/v2/");
    const challenge = anonymous.challenge ? parseChallenge(anonymous.challenge) : undefined;
    if (anonymous.status === 200 && !challenge) {
        return;
    }
    if (anonymous.status !== 200 && anonymous.status !== 401) {
        throw unexpected(`HTTP ${anonymous.status} from /v2/`, probe.path);
    }
    if (challenge?.scheme === "basic") {
        expectOk(await get(v2, { authorization: basic }, ctx, "/v2/"), "/v2/", probe.path);
        return;
    }
    if (challenge?.scheme === "bearer") {
        const token = await fetchToken(challenge.params, basic, base, probe.path, ctx);
        expectOk(await get(v2, { authorization: `Bearer ${token}` }, ctx, "/v2/"), "/v2/ with the issued token", probe.path);
        return;
    }
    throw unexpected("401 from /v2/ without a Basic or Bearer challenge", probe.path);
}

/** The token the realm of a Bearer challenge issues; anonymously (no Authorization) when `basic` is undefined. */
export async function fetchToken(params: Record<string, string>, basic: string | undefined, base: URL, path: string, ctx: Context): Promise<string> {
    let realm: URL;
    try {
        realm = new URL(params.realm);
    } catch {
        throw unexpected("Bearer challenge without a valid realm", path);
    }
    if (realm.protocol !== "https:" && realm.protocol !== "http:") {
        throw unexpected("Bearer challenge realm is not an http(s) URL", path);
    }
    // The credentials go to the realm: never over plain HTTP from a registry reached over HTTPS.
    if (realm.protocol === "http:" && base.protocol === "https:") {
        throw unexpected("Bearer challenge sends the credentials to a plain-HTTP token service", path);
    }
    // The service and scope the registry asked for; no scope means a plain login.
    for (const key of ["service", "scope"]) {
        if (params[key]) {
            realm.searchParams.set(key, params[key]);
        }
    }
    const where = `the token service ${realm.origin}${realm.pathname}`;
    const reply = await get(realm, basic === undefined ? {} : { authorization: basic }, ctx, where);
    expectOk(reply, where, path);
    let token: unknown;
    try {
        const body = JSON.parse(reply.body) as { token?: unknown; access_token?: unknown };
        token = body.token ?? body.access_token;
    } catch {
        // Reported below.
    }
    if (typeof token !== "string" || token === "") {
        throw unexpected(`${where} answered 200 without a token`, path);
    }
    return token;
}

function expectOk(reply: Reply, where: string, path: string): void {
    if (reply.status === 401 || reply.status === 403) {
        throw new Failure(
            `credentials rejected (HTTP ${reply.status} from ${where})`,
            `check ${path}.username and ${path}.password: pulumi config set --secret --path '${path}.password' <password>`,
            reply.status,
        );
    }
    if (reply.status !== 200) {
        throw unexpected(`HTTP ${reply.status} from ${where}`, path);
    }
}

function unexpected(what: string, path: string): Failure {
    return new Failure(`unexpected response (${what})`, `check that ${path}.server is the address of a registry (Docker Registry HTTP API v2), with http:// only if it serves plain HTTP`);
}

/** The cause and fix of a failed check, worded from codes only: no error text is passed on. */
function explain(err: unknown, path: string, timedOutAfterMs: number | undefined): { cause: string; fix: string } {
    if (timedOutAfterMs !== undefined) {
        return {
            cause: `timeout (no answer within ${timedOutAfterMs} ms)`,
            fix: `check that ${path}.server answers from here, or allow more time`,
        };
    }
    if (err instanceof Failure) {
        return { cause: err.cause, fix: err.fix };
    }
    if (err instanceof RequestError) {
        const at = err.where === "/v2/" ? "" : ` at ${err.where}`;
        if (err.code !== undefined && NETWORK_CODES.has(err.code)) {
            return { cause: `unreachable (${err.code}${at})`, fix: `check the host and port in ${path}.server, and that this machine can reach it` };
        }
        if (err.code !== undefined && TLS_CODE.test(err.code)) {
            // No TLS handshake at all: most likely a plain HTTP server.
            const fix = /WRONG_VERSION_NUMBER|EPROTO/.test(err.code)
                ? `if the registry serves plain HTTP, write ${path}.server as http://HOST:PORT`
                : `add the CA certificate that signed the registry's certificate to caBundle: pulumi config set caBundle -- "$(cat ca.pem)"`;
            return { cause: `TLS problem (${err.code}${at})`, fix };
        }
        return unexpected(`${err.code ?? "request failed"}${at}`, path);
    }
    return unexpected("internal error", path);
}

/**
 * `Bearer realm="...",service="..."` -> scheme and parameters. Node joins repeated
 * WWW-Authenticate headers with ", ", so the header may hold several challenges: the first
 * Basic or Bearer one is used, with its own parameters only.
 */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
    const challenges = parseChallenges(header);
    return challenges.find((c) => c.scheme === "basic" || c.scheme === "bearer") ?? challenges[0] ?? { scheme: "", params: {} };
}

// RFC 9110 11.6.1: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ], auth-param =
// token BWS "=" BWS ( token / quoted-string ). A comma inside a quoted string is part of the value.
const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9._~+/-]+=*/y;
const QUOTED = /"((?:[^"\\]|\\.)*)"/y;
// Not RFC 9110's token: registries send unquoted URLs (`realm=https://...`), read up to a comma.
const UNQUOTED = /[^\s,"]+/y;
const SPACES = /[ \t]*/y;

/** Every challenge of a WWW-Authenticate value, schemes and parameter names lower-cased. */
function parseChallenges(header: string): { scheme: string; params: Record<string, string> }[] {
    const challenges: { scheme: string; params: Record<string, string> }[] = [];
    let at = 0;
    const read = (re: RegExp): RegExpExecArray | null => {
        re.lastIndex = at;
        const m = re.exec(header);
        at = m ? re.lastIndex : at;
        return m;
    };
    const atListEnd = () => (read(SPACES), at >= header.length || header[at] === ",");
    // A challenge starts the header or follows a comma; stray text elsewhere is skipped to the
    // next comma, so that it cannot pass for a scheme and take the parameters after it.
    let afterComma = true;
    while (at < header.length) {
        read(SPACES);
        if (header[at] === ",") {
            at++;
            afterComma = true;
            continue;
        }
        const name = read(TOKEN)?.[0].toLowerCase();
        if (name === undefined || (!afterComma && !/^[ \t]*=/.test(header.slice(at)))) {
            while (at < header.length && header[at] !== ",") {
                at++;
            }
            continue;
        }
        afterComma = false;
        read(SPACES);
        if (header[at] === "=") {
            at++;
            read(SPACES);
            const value = read(QUOTED)?.[1].replace(/\\(.)/g, "$1") ?? read(UNQUOTED)?.[0] ?? "";
            const current = challenges.at(-1);
            if (current && name !== "__proto__") {
                current.params[name] = value;
            }
            continue;
        }
        challenges.push({ scheme: name, params: {} });
        // `Negotiate abc==`: a token68 after the scheme is its credential, not a scheme.
        const mark = at;
        if (!(read(TOKEN68) && atListEnd())) {
            at = mark;
        }
    }
    return challenges;
}

/** One GET (or HEAD) on its own connection; the body is read (up to MAX_BODY) and returned. */
export function get(url: URL, headers: Record<string, string>, ctx: Context, where: string, method?: "HEAD"): Promise<Reply> {
    const client = url.protocol === "http:" ? http : https;
    return new Promise<Reply>((resolve, reject) => {
        const req = client.request(url, { method, headers: { accept: "application/json", ...headers }, agent: false, ca: ctx.ca, signal: ctx.signal }, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (chunk: Buffer) => {
                size += chunk.length;
                if (size > MAX_BODY) {
                    req.destroy();
                    reject(new RequestError("response too large", where));
                    return;
                }
                chunks.push(chunk);
            });
            res.on("end", () => {
                const challenge = res.headers["www-authenticate"];
                resolve({ status: res.statusCode ?? 0, challenge, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers });
            });
            res.on("error", (err: NodeJS.ErrnoException) => reject(new RequestError(err.code, where)));
        });
        req.on("error", (err: NodeJS.ErrnoException) => reject(new RequestError(err.code, where)));
        req.end();
    });
}
