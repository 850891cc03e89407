/**
 * Would the kubelet pull this image right now, with the credentials it would use? One request
 * for the exact manifest per (credential, image), and a verdict per image.
 *
 * What is asked of the registry is what containerd's resolver asks when the kubelet pulls
 * (containerd core/remotes/docker/resolver.go `Resolve`): `HEAD /v2/<repository>/manifests/<tag
 * or digest>` with the manifest and index media types in `Accept`, authorized as its docker
 * authorizer does it: Basic with the credential, or a token for `repository:<repository>:pull`
 * from the realm of the registry's Bearer challenge (anonymously when there is no credential).
 * A registry that refuses HEAD (405) is asked again with GET, as containerd does. Redirects are
 * followed (registry.k8s.io answers with one), but the Authorization header goes only to the
 * registry's own origin.
 *
 * The kubelet's side (k8s pkg/kubelet/kuberuntime/kuberuntime_image.go `PullImage`): the matching
 * credentials (doctor/credentialMatch.ts `credentialsFor`) are tried in order until one pulls;
 * only when none matched is the image pulled anonymously. So the verdict is the first credential
 * that pulls, else the most telling failure (a missing manifest over a refusal: see RANK).
 *
 * Requests: one anonymous `GET /v2/` per registry (to learn whether it asks for Basic or Bearer,
 * as verifyCredentials does), then per distinct (credential, manifest) one HEAD, plus one token
 * request per distinct (credential, repository) on a Bearer registry. At most `concurrency`
 * requests at once. `timeoutMs` bounds each registry check and each attempt (its token and its
 * HEAD together); once a registry has not answered in time, the attempts still waiting for it are
 * reported as timeouts without another request, so a silent registry costs one timeout.
 *
 * Secrets: the password, the Basic header, the token and the docker config are only ever put in
 * an Authorization header. Every verdict is worded here from HTTP status codes, Node error codes
 * and URLs the program built (never a response body, an error's message or a header echoed back),
 * the credential is named by its key (any user:password@ removed) and user name only, and an
 * exception never leaves `verdict`: an unforeseen one becomes an "unexpected" verdict.
 */
import * as tls from "node:tls";
import { basicAuth } from "../components/dockerConfig";
import {
    type Context,
    Failure,
    fetchToken,
    get,
    NETWORK_CODES,
    parseChallenge,
    type Reply,
    registryBase,
    RequestError,
    TLS_CODE,
} from "../components/verifyCredentials";
import { type Credential, parseImage } from "./credentialMatch";

/**
 * The manifest and index media types, as containerd's resolver lists them (NewResolver's
 * resolveHeader, without its trailing "*\/*": an image in a format the runtime cannot use should
 * not pass for one that pulls).
 */
export const MANIFEST_MEDIA_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
] as const;
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(", ");

/** What one attempt (a credential, or none, against one manifest) came to. */
export type Outcome =
    /** The manifest answered 2xx: the runtime would get it. */
    | "pulls"
    /** 401: the credentials (or their absence) were not accepted. */
    | "refused"
    /** 403, or a token that does not grant pull on this repository: accepted, not allowed. */
    | "denied"
    /** 404: no such repository, tag or digest (HEAD carries no body telling which). */
    | "not-found"
    /** Nothing answered at the address (the Node error code says why). */
    | "unreachable"
    /** The TLS handshake failed (the OpenSSL or Node code says why). */
    | "tls"
    /** No answer within timeoutMs. */
    | "timeout"
    /** Any other answer: 5xx, 429, a malformed challenge or token, a plain-HTTP realm... */
    | "unexpected";

/**
 * The verdict per image: an Outcome for the credential that decided, or
 * - "no-credential": no pull Secret credential matches; `attempts[0]` is the anonymous pull
 *   the kubelet then makes, and `pulls` says whether it works;
 * - "invalid-image": the kubelet would not pull it at all (ErrInvalidImageName).
 */
export type VerdictKind = Outcome | "no-credential" | "invalid-image";

/** A credential as verdicts name it: never its password. */
export interface CredentialRef {
    /** Its key under `auths`, with any user:password@ removed. */
    key: string;
    username: string;
    secretIndex: number;
}

export interface Attempt {
    /** null: anonymous. */
    credential: CredentialRef | null;
    outcome: Outcome;
    /** What answered, from codes only: "HTTP 401 for HEAD /v2/team/app/manifests/1.0", "ECONNREFUSED". */
    cause: string;
    /** The HTTP status that decided, when there was an answer. */
    status?: number;
    /** For "pulls": the manifest's digest and media type, when the registry sent well-formed ones. */
    digest?: string;
    mediaType?: string;
}

/** The manifest asked for, and where. */
export interface ManifestTarget {
    /** The registry as the image names it ("docker.io"). */
    registry: string;
    /** Where it is asked: "https://registry-1.docker.io". */
    endpoint: string;
    repository: string;
    /** The digest when the image has one (it wins over the tag), else the tag. */
    reference: string;
}

export interface Verdict {
    image: string;
    kind: VerdictKind;
    /** Would the kubelet pull it (with a credential, or anonymously when none matched)? */
    pulls: boolean;
    /** Absent for an invalid image. */
    target?: ManifestTarget;
    /** In the kubelet's order, up to the first that pulls; the anonymous one for "no-credential". */
    attempts: Attempt[];
    /** The attempt that decided: the first that pulls, else the most telling failure. */
    decisive?: Attempt;
    /** One line for people. */
    message: string;
}

export interface ProbeOptions {
    /** Per registry: for its /v2/ check, and for each attempt's requests together. Default 10000. */
    timeoutMs?: number;
    /** Extra PEM CA certificate(s), trusted along with Node's default roots. */
    caBundle?: string;
    /** Requests in flight at once, over all registries. Default 8. */
    concurrency?: number;
    /**
     * Where the node's runtime reaches a registry when not at https://HOST (its hosts.toml
     * `server`), e.g. { "registry.local:5000": "http://registry.local:5000" }. Host and scheme
     * only; mirrors are not modelled.
     */
    endpoints?: Record<string, string>;
}

/** Requests sent so far, by kind. */
export interface ProbeStats {
    registryChecks: number;
    tokenRequests: number;
    manifestRequests: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_CONCURRENCY = 8;
const MAX_REDIRECTS = 5;

/** How telling a failure is, when no credential pulls: the furthest a credential got wins. */
const RANK: Record<Outcome, number> = {
    pulls: 6,
    "not-found": 5,
    denied: 4,
    refused: 3,
    unexpected: 2,
    tls: 1,
    timeout: 1,
    unreachable: 1,
};

// ---------------------------------------------------------------------------------------------
// Pure parts: the request, the classification of answers and errors, the verdict.

/** The manifest `image` names, and the endpoint asked; throws for an image the kubelet refuses. */
export function manifestTarget(image: string, endpoints: Record<string, string> = {}): ManifestTarget {
    const name = parseImage(image);
    if (name.registry === "") {
        throw new Error("names no registry (its first component is read as part of the repository path)");
    }
    const base = registryBase(Object.hasOwn(endpoints, name.registry) ? endpoints[name.registry] : name.registry);
    if (!base) {
        throw new Error(`no endpoint for registry ${JSON.stringify(name.registry)}`);
    }
    return { registry: name.registry, endpoint: base.origin, repository: name.repository, reference: name.digest || name.tag };
}

/** `HEAD /v2/<repository>/manifests/<reference>` on the target's endpoint. */
export function manifestUrl(target: ManifestTarget): URL {
    return new URL(`/v2/${target.repository}/manifests/${target.reference}`, target.endpoint);
}

/** The token scope containerd asks for to pull (ContextWithRepositoryScope, push=false). */
export function pullScope(repository: string): string {
    return `repository:${repository}:pull`;
}

/** How the registry wants to be authorized, from its anonymous `/v2/` answer. */
export type RegistryAuth = { scheme: "none" } | { scheme: "basic" } | { scheme: "bearer"; params: Record<string, string> };

/**
 * The anonymous `/v2/` answer read as verifyCredentials reads it: 200 without a challenge is
 * an open registry; 401 (or 200) with a Basic or Bearer challenge names the scheme.
 */
export function registryAuthOf(reply: Pick<Reply, "status" | "challenge">): RegistryAuth | { outcome: Outcome; cause: string; status: number } {
    const challenge = reply.challenge ? parseChallenge(reply.challenge) : undefined;
    if (reply.status === 200 && !challenge) {
        return { scheme: "none" };
    }
    if (reply.status === 200 || reply.status === 401) {
        if (challenge?.scheme === "basic") {
            return { scheme: "basic" };
        }
        if (challenge?.scheme === "bearer") {
            return { scheme: "bearer", params: challenge.params };
        }
        return { outcome: "unexpected", cause: `HTTP ${reply.status} from /v2/ without a Basic or Bearer challenge`, status: reply.status };
    }
    return { outcome: "unexpected", cause: `HTTP ${reply.status} from /v2/`, status: reply.status };
}

/** What authorized the manifest request. */
export type Sent = "nothing" | "basic" | "token" | "anonymous token";

/**
 * The outcome of the manifest's answer. A 401 is read by what was sent: nothing (anonymous)
 * or Basic credentials are refused; a token the token service issued for these credentials means
 * they were accepted but the token grants no pull here (Distribution and Docker Hub answer so,
 * with error="insufficient_scope", for a repository one may not read, and Docker Hub also for
 * one that does not exist), unless the registry says the token itself is invalid.
 */
export function manifestOutcome(status: number, sent: Sent, challenge?: string): { outcome: Outcome; cause: string } {
    if (status >= 200 && status < 300) {
        return { outcome: "pulls", cause: `HTTP ${status}` };
    }
    if (status === 404) {
        return { outcome: "not-found", cause: `HTTP ${status}` };
    }
    if (status === 403) {
        return { outcome: "denied", cause: `HTTP ${status}` };
    }
    if (status === 401) {
        const error = challenge ? parseChallenge(challenge).params.error : undefined;
        if (sent === "token" && error === "invalid_token") {
            return { outcome: "unexpected", cause: `HTTP 401 (error="invalid_token": the registry does not accept the token its token service issued)` };
        }
        const scope = error === "insufficient_scope" ? ` (error="insufficient_scope")` : "";
        if (sent === "token") {
            return { outcome: "denied", cause: `HTTP 401${scope} with a token the token service issued for these credentials` };
        }
        if (sent === "anonymous token") {
            return { outcome: "refused", cause: `HTTP 401${scope} with an anonymous token` };
        }
        return { outcome: "refused", cause: `HTTP 401` };
    }
    if (status === 429) {
        return { outcome: "unexpected", cause: "HTTP 429 (rate limited)" };
    }
    return { outcome: "unexpected", cause: `HTTP ${status}` };
}

/** The outcome of a request that threw, worded from codes only (never the error's message). */
export function failureOutcome(err: unknown, timedOutAfterMs?: number): { outcome: Outcome; cause: string; status?: number } {
    if (timedOutAfterMs !== undefined) {
        return { outcome: "timeout", cause: `no answer within ${timedOutAfterMs} ms` };
    }
    if (err instanceof RequestError) {
        const at = err.where === "" ? "" : ` at ${err.where}`;
        if (err.code !== undefined && NETWORK_CODES.has(err.code)) {
            return { outcome: "unreachable", cause: `${err.code}${at}` };
        }
        if (err.code !== undefined && TLS_CODE.test(err.code)) {
            return { outcome: "tls", cause: `${err.code}${at}` };
        }
        return { outcome: "unexpected", cause: `${err.code ?? "request failed"}${at}` };
    }
    if (err instanceof TokenFailure) {
        return { outcome: err.status === 403 ? "denied" : "refused", cause: `HTTP ${err.status} from ${err.where}`, status: err.status };
    }
    if (err instanceof Failure) {
        // verifyCredentials' own wording: statuses and the token service's origin and path.
        return { outcome: "unexpected", cause: err.cause };
    }
    if (err instanceof ProbeFailure) {
        return { outcome: "unexpected", cause: err.cause };
    }
    return { outcome: "unexpected", cause: "internal error" };
}

/** The token service refused the credentials (401) or the scope (403). */
class TokenFailure extends Error {
    constructor(
        readonly status: number,
        readonly where: string,
    ) {
        super(`HTTP ${status} from ${where}`);
    }
}

/** A failure worded here, from codes only. */
class ProbeFailure extends Error {
    constructor(readonly cause: string) {
        super(cause);
    }
}

/** A credential's key as a verdict shows it: any user[:password]@ before the host removed. */
export function displayKey(key: string): string {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)?([^/]*)(.*)$/is.exec(key)!;
    const at = m[2].lastIndexOf("@");
    return at < 0 ? key : `${m[1] ?? ""}${m[2].slice(at + 1)}${m[3]}`;
}

export function credentialRef(credential: Credential): CredentialRef {
    return { key: displayKey(credential.key), username: credential.username, secretIndex: credential.secretIndex };
}

/**
 * The kubelet's result over the attempts in its order: the first that pulls; else the most
 * telling failure, the later one of equal rank (the kubelet's last error).
 */
export function decide(attempts: Attempt[]): Attempt | undefined {
    const pulled = attempts.find((a) => a.outcome === "pulls");
    if (pulled) {
        return pulled;
    }
    return attempts.reduce<Attempt | undefined>((best, a) => (best === undefined || RANK[a.outcome] >= RANK[best.outcome] ? a : best), undefined);
}

function who(credential: CredentialRef | null): string {
    return credential === null
        ? "an anonymous pull"
        : `credential ${JSON.stringify(credential.key)} (user ${JSON.stringify(credential.username)}, pull secret #${credential.secretIndex})`;
}

/** What an outcome says, worded for the credential (or anonymous pull) that got it. */
function describeAttempt(a: Attempt, target: ManifestTarget): string {
    const manifest = `${target.registry}/${target.repository}${target.reference.includes(":") ? "@" : ":"}${target.reference}`;
    switch (a.outcome) {
        case "pulls":
            return `${a.credential === null ? "an anonymous pull works" : `${who(a.credential)} pulls ${manifest}`}${a.digest ? ` (${a.digest})` : ""}`;
        case "refused":
            return `${who(a.credential)} is refused by ${target.endpoint} (${a.cause})`;
        case "denied":
            return `${who(a.credential)} is not allowed to pull ${target.repository} from ${target.endpoint} (${a.cause})`;
        case "not-found":
            return `no manifest ${manifest} on ${target.endpoint} for ${who(a.credential)} (${a.cause})`;
        case "unreachable":
            return `registry ${target.endpoint} is unreachable (${a.cause})`;
        case "tls":
            return `TLS failure with ${target.endpoint} (${a.cause})`;
        case "timeout":
            return `registry ${target.endpoint} timed out (${a.cause})`;
        case "unexpected":
            return `unexpected answer from ${target.endpoint} (${a.cause})`;
    }
}

/** The verdict for `image` from its attempts, in the kubelet's order; `matched`: a credential matched. */
export function verdictOf(image: string, target: ManifestTarget, attempts: Attempt[], matched: boolean): Verdict {
    const decisive = decide(attempts)!;
    const pulls = decisive.outcome === "pulls";
    if (!matched) {
        const message = `${image}: no pull secret credential matches ${target.registry}/${target.repository}; ${describeAttempt(decisive, target)}`;
        return { image, kind: "no-credential", pulls, target, attempts, decisive, message };
    }
    const tried = attempts.length > 1 ? ` (${attempts.length} credentials tried)` : "";
    return { image, kind: decisive.outcome, pulls, target, attempts, decisive, message: `${image}: ${describeAttempt(decisive, target)}${tried}` };
}

function invalidImage(image: string, err: unknown): Verdict {
    const why = err instanceof Error ? err.message : "cannot be read";
    return { image, kind: "invalid-image", pulls: false, attempts: [], message: `${JSON.stringify(image)}: invalid image reference: ${why}` };
}

// ---------------------------------------------------------------------------------------------
// The requests.

/** At most `max` tasks at once; a released slot passes straight to the next waiting task. */
class Limiter {
    private active = 0;
    private readonly waiting: (() => void)[] = [];

    constructor(private readonly max: number) {}

    async run<T>(task: () => Promise<T>): Promise<T> {
        if (this.active < this.max) {
            this.active++;
        } else {
            await new Promise<void>((resolve) => this.waiting.push(resolve));
        }
        try {
            return await task();
        } finally {
            const next = this.waiting.shift();
            if (next) {
                next();
            } else {
                this.active--;
            }
        }
    }
}

interface RegistryState {
    base: URL;
    /** The anonymous /v2/ answer, once per registry; a failure is every attempt's outcome. */
    auth?: Promise<RegistryAuth | { outcome: Outcome; cause: string; status?: number }>;
    /** Set when a request to it timed out: the attempts still waiting get a timeout without asking. */
    timedOut?: string;
}

type AttemptResult = Omit<Attempt, "credential">;

const TOKEN_CHARS = /^[\x21-\x7e]+$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}$/;

/** Probes images against their registries, sharing registry checks, tokens and attempts. */
export class RegistryProber {
    readonly stats: ProbeStats = { registryChecks: 0, tokenRequests: 0, manifestRequests: 0 };
    private readonly timeoutMs: number;
    private readonly ca: string[] | undefined;
    private readonly endpoints: Record<string, string>;
    private readonly limiter: Limiter;
    private readonly registries = new Map<string, RegistryState>();
    private readonly attempts = new Map<string, Promise<AttemptResult>>();
    private readonly tokens = new Map<string, Promise<string>>();
    // Each distinct (username, password) gets a number: cache keys hold that, never the password.
    private readonly credentialIds = new Map<string, number>();

    constructor(opts: ProbeOptions = {}) {
        this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        // Given explicitly, `ca` replaces Node's roots: keep them and add the bundle (as verifyCredentials).
        this.ca = opts.caBundle ? [...tls.rootCertificates, opts.caBundle] : undefined;
        this.endpoints = opts.endpoints ?? {};
        this.limiter = new Limiter(Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY));
    }

    /**
     * The verdict for `image` pulled with `credentials`, the list `credentialsFor` gives (in the
     * kubelet's order; empty: none matched, the kubelet pulls anonymously). Never throws.
     */
    async verdict(image: string, credentials: Credential[]): Promise<Verdict> {
        let target: ManifestTarget;
        try {
            target = manifestTarget(image, this.endpoints);
        } catch (err) {
            return invalidImage(image, err);
        }
        const attempts: Attempt[] = [];
        for (const credential of credentials.length > 0 ? credentials : [null]) {
            const result = await this.attempt(target, credential).catch((err: unknown) => failureOutcome(err));
            attempts.push({ credential: credential && credentialRef(credential), ...result });
            if (result.outcome === "pulls") {
                break;
            }
        }
        return verdictOf(image, target, attempts, credentials.length > 0);
    }

    private registry(target: ManifestTarget): RegistryState {
        let state = this.registries.get(target.endpoint);
        if (!state) {
            state = { base: new URL(target.endpoint) };
            this.registries.set(target.endpoint, state);
        }
        return state;
    }

    private credentialId(credential: Credential | null): string {
        if (credential === null || (credential.username === "" && credential.password === "")) {
            return "anonymous";
        }
        const secret = JSON.stringify([credential.username, credential.password]);
        let id = this.credentialIds.get(secret);
        if (id === undefined) {
            id = this.credentialIds.size;
            this.credentialIds.set(secret, id);
        }
        return String(id);
    }

    /** One attempt per distinct (endpoint, repository, reference, credential). */
    private attempt(target: ManifestTarget, credential: Credential | null): Promise<AttemptResult> {
        const key = [target.endpoint, target.repository, target.reference, this.credentialId(credential)].join("\n");
        let result = this.attempts.get(key);
        if (!result) {
            result = this.runAttempt(target, credential);
            this.attempts.set(key, result);
        }
        return result;
    }

    private registryAuth(state: RegistryState): NonNullable<RegistryState["auth"]> {
        state.auth ??= this.limiter.run(async () => {
            const signal = AbortSignal.timeout(this.timeoutMs);
            try {
                this.stats.registryChecks++;
                return registryAuthOf(await get(new URL("/v2/", state.base), {}, { ca: this.ca, signal }, "/v2/"));
            } catch (err) {
                return this.failed(state, err, signal);
            }
        });
        return state.auth;
    }

    /**
     * A request that threw. Aborts come only from the timeouts: a token request shared with an
     * attempt that timed out rejects the others with ABORT_ERR, a timeout too.
     */
    private failed(state: RegistryState, err: unknown, signal: AbortSignal): { outcome: Outcome; cause: string; status?: number } {
        const aborted = signal.aborted || (err instanceof RequestError && err.code === "ABORT_ERR");
        const failure = failureOutcome(err, aborted ? this.timeoutMs : undefined);
        state.timedOut = failure.outcome === "timeout" ? failure.cause : state.timedOut;
        return failure;
    }

    private async runAttempt(target: ManifestTarget, credential: Credential | null): Promise<AttemptResult> {
        const state = this.registry(target);
        const auth = await this.registryAuth(state);
        if (!("scheme" in auth)) {
            return auth;
        }
        return this.limiter.run(async () => {
            if (state.timedOut !== undefined) {
                return { outcome: "timeout", cause: `${state.timedOut}, earlier` };
            }
            const signal = AbortSignal.timeout(this.timeoutMs);
            try {
                return await this.askManifest(state, target, credential, auth, { ca: this.ca, signal });
            } catch (err) {
                return this.failed(state, err, signal);
            }
        });
    }

    /** The Authorization header for `auth`, or none; a token is fetched (once per credential and repository). */
    private async authorization(state: RegistryState, auth: RegistryAuth, target: ManifestTarget, credential: Credential | null, ctx: Context): Promise<{ header?: string; sent: Sent }> {
        const anonymous = credential === null || (credential.username === "" && credential.password === "");
        const basic = anonymous ? undefined : `Basic ${basicAuth(credential.username, credential.password)}`;
        if (auth.scheme === "none") {
            return { sent: "nothing" };
        }
        if (auth.scheme === "basic") {
            return basic === undefined ? { sent: "nothing" } : { header: basic, sent: "basic" };
        }
        const params: Record<string, string> = { ...auth.params, scope: pullScope(target.repository) };
        const key = [state.base.origin, params.realm, params.service ?? "", target.repository, this.credentialId(credential)].join("\n");
        let token = this.tokens.get(key);
        if (!token) {
            token = this.requestToken(params, basic, state.base, ctx);
            this.tokens.set(key, token);
        }
        return { header: `Bearer ${await token}`, sent: basic === undefined ? "anonymous token" : "token" };
    }

    private async requestToken(params: Record<string, string>, basic: string | undefined, base: URL, ctx: Context): Promise<string> {
        this.stats.tokenRequests++;
        let token: string;
        try {
            token = await fetchToken(params, basic, base, "the pull secret", ctx);
        } catch (err) {
            if (err instanceof Failure && err.status !== undefined) {
                const realm = new URL(params.realm);
                throw new TokenFailure(err.status, `the token service ${realm.origin}${realm.pathname}`);
            }
            throw err;
        }
        // A token goes into a header: one Node would refuse (and name in its error) is not sent.
        if (!TOKEN_CHARS.test(token)) {
            throw new ProbeFailure("the token service issued a token that is not a valid header value");
        }
        return token;
    }

    /** HEAD the manifest (GET if HEAD is refused), following redirects; a 401 from an open registry is answered once. */
    private async askManifest(state: RegistryState, target: ManifestTarget, credential: Credential | null, auth: RegistryAuth, ctx: Context): Promise<AttemptResult> {
        const { header, sent } = await this.authorization(state, auth, target, credential, ctx);
        const reply = await this.request(manifestUrl(target), state.base, header, ctx);
        const challenge = reply.challenge ? parseChallenge(reply.challenge) : undefined;
        if (reply.status === 401 && auth.scheme === "none" && (challenge?.scheme === "basic" || challenge?.scheme === "bearer")) {
            // /v2/ was open but this repository is not: authorize as the manifest's challenge asks.
            const next: RegistryAuth = challenge.scheme === "basic" ? { scheme: "basic" } : { scheme: "bearer", params: challenge.params };
            return this.askManifest(state, target, credential, next, ctx);
        }
        const { outcome, cause } = manifestOutcome(reply.status, sent, reply.challenge);
        const path = `${reply.method} ${manifestUrl(target).pathname}`;
        const result: AttemptResult = { outcome, cause: `${cause} for ${path}`, status: reply.status };
        if (outcome === "pulls") {
            const digest = headerValue(reply.headers["docker-content-digest"]);
            const mediaType = headerValue(reply.headers["content-type"])?.split(";")[0].trim();
            if (digest !== undefined && DIGEST.test(digest)) {
                result.digest = digest;
            }
            if (mediaType !== undefined && (MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
                result.mediaType = mediaType;
            }
        }
        return result;
    }

    /** One manifest request and its redirects; Authorization only to the registry's own origin. */
    private async request(url: URL, base: URL, authorization: string | undefined, ctx: Context): Promise<Reply & { method: "HEAD" | "GET" }> {
        let method: "HEAD" | "GET" = "HEAD";
        let at = url;
        for (let hop = 0; ; hop++) {
            const headers: Record<string, string> = { accept: MANIFEST_ACCEPT };
            if (authorization !== undefined && at.origin === base.origin) {
                headers.authorization = authorization;
            }
            this.stats.manifestRequests++;
            const where = at.origin === base.origin ? "" : at.origin;
            const reply = await get(at, headers, ctx, where, method === "HEAD" ? "HEAD" : undefined);
            if (reply.status === 405 && method === "HEAD") {
                // containerd: registries that have not implemented HEAD for manifests get a GET.
                method = "GET";
                continue;
            }
            const location = headerValue(reply.headers.location);
            if (reply.status === 401 && where !== "") {
                // containerd would answer that origin's challenge; the credentials go to the registry's origin only.
                throw new ProbeFailure(`HTTP 401 from ${where} after a redirect (credentials are not sent to another origin)`);
            }
            if (reply.status < 300 || reply.status > 399 || location === undefined) {
                return { ...reply, method };
            }
            if (hop >= MAX_REDIRECTS) {
                throw new ProbeFailure(`more than ${MAX_REDIRECTS} redirects`);
            }
            const next = safeUrl(location, at);
            if (next === undefined || (next.protocol !== "https:" && next.protocol !== "http:")) {
                throw new ProbeFailure(`HTTP ${reply.status} redirect to something that is not an http(s) URL`);
            }
            if (next.protocol === "http:" && at.protocol === "https:") {
                throw new ProbeFailure(`HTTP ${reply.status} redirect from HTTPS to plain HTTP (${next.origin})`);
            }
            // Never anything of the Location but origin and path in a verdict: no user info, no query.
            next.username = "";
            next.password = "";
            at = next;
        }
    }
}

function headerValue(value: string | string[] | undefined): string | undefined {
    return Array.isArray(value) ? value[0] : value;
}

function safeUrl(location: string, base: URL): URL | undefined {
    try {
        return new URL(location, base);
    } catch {
        return undefined;
    }
}

/** One verdict per item, in order, through one RegistryProber (shared checks, tokens and attempts). */
export async function probeImages(items: { image: string; credentials: Credential[] }[], opts: ProbeOptions = {}): Promise<Verdict[]> {
    const prober = new RegistryProber(opts);
    return Promise.all(items.map((item) => prober.verdict(item.image, item.credentials)));
}
