/**
 * The registry probe of the doctor (doctor/registryProbe.ts) without a real registry: its pure
 * parts (the manifest asked for, the reading of statuses and errors, the kubelet's choice among
 * attempts), then its requests against local servers on 127.0.0.1 (Node's http and https
 * modules) answering like a Basic, a Bearer or an open registry, and the leak checks: no verdict
 * of any kind carries the password, the Basic header, their base64 forms, the token or the
 * docker config. Real registries: test/cluster/doctor.registryProbe.test.ts.
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as https from "node:https";
import type * as net from "node:net";
import { basicAuth, dockerConfigJson } from "../components/dockerConfig";
import { Failure, RequestError } from "../components/verifyCredentials";
import { type Credential, credentialsFor } from "../doctor/credentialMatch";
import {
    type Attempt,
    decide,
    displayKey,
    failureOutcome,
    MANIFEST_ACCEPT,
    MANIFEST_MEDIA_TYPES,
    manifestOutcome,
    manifestTarget,
    manifestUrl,
    probeImages,
    type ProbeOptions,
    pullScope,
    RegistryProber,
    registryAuthOf,
    type Verdict,
} from "../doctor/registryProbe";
import { findEcho } from "./support/echo";
import { closedPort } from "./support/ports";
import { leakForms } from "./support/secrets";
import { selfSignedCert } from "./support/selfSignedCert";

const USER = "puller";
const PASSWORD = "Pr0be-Pa55word:<&>\u00e9";
const OTHER_PASSWORD = "0ther-Pa55word-91c3";
const TOKEN = "t0ken-9f2c.e8d1.b7a6";
const DIGEST = `sha256:${"ab12".repeat(16)}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

const basic = (password = PASSWORD, username = USER) => `Basic ${basicAuth(username, password)}`;

function cred(password = PASSWORD, key = "registry.local", secretIndex = 0, username = USER): Credential {
    return { key, indexKey: key, username, password, secretIndex };
}

// ---------------------------------------------------------------------------------------------
// Local servers.

interface Seen {
    method: string;
    url: string;
    authorization?: string;
    accept?: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Server {
    host: string;
    origin: string;
    seen: Seen[];
    close(): Promise<void>;
}

async function serve(handler: Handler, tls?: { key: string; cert: string }): Promise<Server> {
    const seen: Seen[] = [];
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
        seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, accept: req.headers.accept });
        handler(req, res);
    };
    const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    return {
        host,
        origin: `${tls ? "https" : "http"}://${host}`,
        seen,
        close: () => {
            server.closeAllConnections();
            return new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

const manifestPath = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

/** A manifest answer: 200 with digest and media type for a known one, 404 otherwise. */
function answerManifest(req: http.IncomingMessage, res: http.ServerResponse, manifests: Set<string>): void {
    const m = manifestPath.exec(new URL(req.url ?? "/", "http://x").pathname);
    if (m && manifests.has(`${m[1]}:${m[2]}`)) {
        res.writeHead(200, { "docker-content-digest": DIGEST, "content-type": OCI_MANIFEST, "content-length": "2" });
        res.end(req.method === "HEAD" ? undefined : "{}");
        return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end(req.method === "HEAD" ? undefined : '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
}

interface RegistryOptions {
    /** Repositories (team/app) whose manifests answer 403 to the right credentials. */
    forbidden?: string[];
    /** Repositories anyone may read, as if public. */
    open?: string[];
    manifests?: string[];
}

/** A registry with Basic auth: the right password reads everything but `forbidden`. */
function basicRegistry(opts: RegistryOptions = {}): Handler {
    const manifests = new Set(opts.manifests ?? ["team/app:1.0"]);
    return (req, res) => {
        const m = manifestPath.exec(req.url ?? "");
        const publicRepo = m !== null && (opts.open ?? []).includes(m[1]);
        if (req.headers.authorization !== basic() && !publicRepo) {
            res.writeHead(401, { "www-authenticate": 'Basic realm="local"' }).end();
        } else if (m && (opts.forbidden ?? []).includes(m[1])) {
            res.writeHead(403).end();
        } else if (m) {
            answerManifest(req, res, manifests);
        } else {
            res.writeHead(200, { "content-type": "application/json" }).end("{}");
        }
    };
}

/**
 * A token service and a registry trusting it. Tokens are `TOKEN:user:repo,...` (an anonymous one
 * `TOKEN:-:...`); the token grants the repositories the scope asked for, less `forbidden` (as a
 * Distribution token service grants the intersection, an empty one when nothing is allowed).
 */
async function bearerPair(start: (h: Handler, tls?: { key: string; cert: string }) => Promise<Server>, opts: RegistryOptions & { anonymousTokens?: boolean } = {}) {
    const manifests = new Set(opts.manifests ?? ["team/app:1.0"]);
    const tokens = await start((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        const user = req.headers.authorization === basic() ? USER : req.headers.authorization === undefined && opts.anonymousTokens ? "-" : undefined;
        if (user === undefined) {
            res.writeHead(401, { "content-type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
            return;
        }
        const repos = url.searchParams
            .getAll("scope")
            .map((s) => /^repository:(.+):pull$/.exec(s)?.[1])
            .filter((r): r is string => r !== undefined && !(opts.forbidden ?? []).includes(r) && (user !== "-" || (opts.open ?? []).includes(r)));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: `${TOKEN}:${user}:${repos.join(",")}` }));
    });
    const registry = await start((req, res) => {
        const m = manifestPath.exec(req.url ?? "");
        const challenge = `Bearer realm="${tokens.origin}/token",service="registry.local"`;
        const granted = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1].split(":");
        if (!m) {
            res.writeHead(401, { "www-authenticate": challenge }).end();
        } else if (!granted || granted[0] !== TOKEN) {
            res.writeHead(401, { "www-authenticate": `${challenge},scope="repository:${m[1]}:pull"` }).end();
        } else if (!granted[2].split(",").includes(m[1])) {
            res.writeHead(401, { "www-authenticate": `${challenge},scope="repository:${m[1]}:pull",error="insufficient_scope"` }).end();
        } else {
            answerManifest(req, res, manifests);
        }
    });
    return { tokens, registry };
}

/** An http:// endpoint for the server's host, so that the image `HOST/...` is asked over HTTP. */
const plain = (s: Server): ProbeOptions => ({ endpoints: { [s.host]: s.origin } });

// ---------------------------------------------------------------------------------------------
// Leak checks.

/** Every form a secret may leak in, for the credentials and tokens of these tests. */
function secretForms(): string[] {
    return [
        ...leakForms({ server: "registry.local", username: USER, password: PASSWORD }),
        ...leakForms({ server: "registry.local", username: USER, password: OTHER_PASSWORD }),
        basic(),
        basic(OTHER_PASSWORD),
        TOKEN,
        `Bearer ${TOKEN}`,
        Buffer.from(TOKEN).toString("base64"),
        dockerConfigJson({ server: "registry.local", username: USER, password: PASSWORD }),
    ];
}

/** No secret, whole or in part (runs of 8 characters, JSON-escaped or base64), in the verdicts. */
function assertNoLeak(verdicts: Verdict[]): void {
    const text = JSON.stringify(verdicts) + verdicts.map((v) => v.message).join("\n");
    for (const form of secretForms()) {
        assert.ok(!text.includes(form), `a verdict carries ${JSON.stringify(form.slice(0, 12))}...`);
    }
    const echo = findEcho(text, [PASSWORD, OTHER_PASSWORD, TOKEN]);
    assert.equal(echo, undefined, `a verdict carries ${JSON.stringify(echo)}`);
}

// ---------------------------------------------------------------------------------------------

describe("doctor registry probe: the manifest asked for", () => {
    it("asks Docker Hub's images at registry-1.docker.io, official ones under library/, tag latest by default", () => {
        assert.deepEqual(manifestTarget("nginx"), { registry: "docker.io", endpoint: "https://registry-1.docker.io", repository: "library/nginx", reference: "latest" });
        assert.deepEqual(manifestTarget("index.docker.io/team/app:2"), { registry: "docker.io", endpoint: "https://registry-1.docker.io", repository: "team/app", reference: "2" });
    });

    it("asks by digest when the image has one, even with a tag", () => {
        const digest = `sha256:${"c".repeat(64)}`;
        const target = manifestTarget(`registry.example.org:5000/team/app:1.0@${digest}`);
        assert.deepEqual(target, { registry: "registry.example.org:5000", endpoint: "https://registry.example.org:5000", repository: "team/app", reference: digest });
        assert.equal(manifestUrl(target).href, `https://registry.example.org:5000/v2/team/app/manifests/${digest}`);
    });

    it("takes the endpoint of a registry from `endpoints` (hosts.toml server), host and scheme only", () => {
        const target = manifestTarget("registry.local:5000/team/app:1.0", { "registry.local:5000": "http://10.0.0.5:5000/ignored/path" });
        assert.equal(manifestUrl(target).href, "http://10.0.0.5:5000/v2/team/app/manifests/1.0");
        // An inherited property is no endpoint.
        assert.equal(manifestTarget("constructor/app", {}).endpoint, "https://registry-1.docker.io");
    });

    it("refuses the images the kubelet refuses, and one naming no registry", () => {
        assert.throws(() => manifestTarget("Team/App"), /must be lowercase|invalid reference format/);
        assert.throws(() => manifestTarget("my_registry.example/app"), /names no registry/);
    });

    it("asks for the pull scope and every manifest and index media type", () => {
        assert.equal(pullScope("team/app"), "repository:team/app:pull");
        assert.deepEqual([...MANIFEST_MEDIA_TYPES].sort(), [
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
        ]);
        assert.equal(MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
    });

    it("shows a credential's key without any user:password@", () => {
        assert.equal(displayKey("https://user:secret@registry.local/v1/"), "https://registry.local/v1/");
        assert.equal(displayKey("user:secret@registry.local"), "registry.local");
        assert.equal(displayKey("registry.local/team/a@b"), "registry.local/team/a@b");
        assert.equal(displayKey("*.example.org"), "*.example.org");
    });
});

describe("doctor registry probe: reading answers", () => {
    it("reads the registry's /v2/ answer as verifyCredentials does", () => {
        assert.deepEqual(registryAuthOf({ status: 200 }), { scheme: "none" });
        assert.deepEqual(registryAuthOf({ status: 401, challenge: 'Basic realm="r"' }), { scheme: "basic" });
        assert.deepEqual(registryAuthOf({ status: 401, challenge: 'Bearer realm="https://t/token",service="s"' }), { scheme: "bearer", params: { realm: "https://t/token", service: "s" } });
        assert.deepEqual(registryAuthOf({ status: 401 }), { outcome: "unexpected", cause: "HTTP 401 from /v2/ without a Basic or Bearer challenge", status: 401 });
        assert.deepEqual(registryAuthOf({ status: 404 }), { outcome: "unexpected", cause: "HTTP 404 from /v2/", status: 404 });
    });

    it("reads the manifest's status by what was sent", () => {
        const cases: [number, Parameters<typeof manifestOutcome>[1], string | undefined, string, string][] = [
            [200, "basic", undefined, "pulls", "HTTP 200"],
            [404, "token", undefined, "not-found", "HTTP 404"],
            [403, "basic", undefined, "denied", "HTTP 403"],
            [401, "basic", 'Basic realm="r"', "refused", "HTTP 401"],
            [401, "nothing", 'Basic realm="r"', "refused", "HTTP 401"],
            [401, "token", 'Bearer realm="r",error="insufficient_scope"', "denied", 'HTTP 401 (error="insufficient_scope") with a token the token service issued for these credentials'],
            [401, "token", 'Bearer realm="r"', "denied", "HTTP 401 with a token the token service issued for these credentials"],
            [401, "anonymous token", 'Bearer realm="r",error="insufficient_scope"', "refused", 'HTTP 401 (error="insufficient_scope") with an anonymous token'],
            [401, "token", 'Bearer realm="r",error="invalid_token"', "unexpected", 'HTTP 401 (error="invalid_token": the registry does not accept the token its token service issued)'],
            [429, "basic", undefined, "unexpected", "HTTP 429 (rate limited)"],
            [500, "basic", undefined, "unexpected", "HTTP 500"],
        ];
        for (const [status, sent, challenge, outcome, cause] of cases) {
            assert.deepEqual(manifestOutcome(status, sent, challenge), { outcome, cause }, `${status} ${sent}`);
        }
    });

    it("reads errors from their codes only, never their messages", () => {
        assert.deepEqual(failureOutcome(new RequestError("ECONNREFUSED", "/v2/")), { outcome: "unreachable", cause: "ECONNREFUSED at /v2/" });
        assert.deepEqual(failureOutcome(new RequestError("ENOTFOUND", "")), { outcome: "unreachable", cause: "ENOTFOUND" });
        assert.deepEqual(failureOutcome(new RequestError("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "")), { outcome: "tls", cause: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
        assert.deepEqual(failureOutcome(new RequestError("ERR_SSL_WRONG_VERSION_NUMBER", "/v2/")), { outcome: "tls", cause: "ERR_SSL_WRONG_VERSION_NUMBER at /v2/" });
        assert.deepEqual(failureOutcome(new RequestError(undefined, "")), { outcome: "unexpected", cause: "request failed" });
        assert.deepEqual(failureOutcome(new RequestError("ECONNREFUSED", ""), 500), { outcome: "timeout", cause: "no answer within 500 ms" });
        assert.deepEqual(failureOutcome(new Failure("unexpected response (HTTP 500 from the token service https://t/token)", "fix")), {
            outcome: "unexpected",
            cause: "unexpected response (HTTP 500 from the token service https://t/token)",
        });
        const carrying = new Error(`connect to https://${USER}:${PASSWORD}@registry.local failed, ${basic()}`);
        assert.deepEqual(failureOutcome(carrying), { outcome: "unexpected", cause: "internal error" });
    });

    const attempt = (outcome: Attempt["outcome"], key: string): Attempt => ({ credential: { key, username: USER, secretIndex: 0 }, outcome, cause: "" });

    it("decides as the kubelet: the first credential that pulls", () => {
        assert.equal(decide([attempt("refused", "a"), attempt("pulls", "b"), attempt("pulls", "c")])?.credential?.key, "b");
    });

    it("else the most telling failure: a missing manifest over a refusal over a network failure; the later of equals", () => {
        assert.equal(decide([attempt("not-found", "a"), attempt("denied", "b"), attempt("refused", "c")])?.credential?.key, "a");
        assert.equal(decide([attempt("refused", "a"), attempt("denied", "b")])?.credential?.key, "b");
        assert.equal(decide([attempt("unreachable", "a"), attempt("unexpected", "b"), attempt("refused", "c")])?.credential?.key, "c");
        assert.equal(decide([attempt("refused", "a"), attempt("refused", "b")])?.credential?.key, "b");
        assert.equal(decide([]), undefined);
    });
});

describe("doctor registry probe: requests (local stand-ins)", function () {
    this.timeout(30000);
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
        await Promise.all(closers.splice(0).map((c) => c()));
    });
    const start = async (handler: Handler, tls?: { key: string; cert: string }) => {
        const s = await serve(handler, tls);
        closers.push(s.close);
        return s;
    };
    let cert: { key: string; cert: string };
    before(() => {
        cert = selfSignedCert();
    });

    describe("Basic", () => {
        it("pulls with the right credential: one /v2/ check, then HEAD of the exact manifest with Accept and Basic", async () => {
            const registry = await start(basicRegistry());
            const prober = new RegistryProber(plain(registry));
            const v = await prober.verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "pulls");
            assert.equal(v.pulls, true);
            assert.deepEqual(v.decisive, {
                credential: { key: "registry.local", username: USER, secretIndex: 0 },
                outcome: "pulls",
                cause: "HTTP 200 for HEAD /v2/team/app/manifests/1.0",
                status: 200,
                digest: DIGEST,
                mediaType: OCI_MANIFEST,
            });
            assert.equal(v.message, `${registry.host}/team/app:1.0: credential "registry.local" (user "puller", pull secret #0) pulls ${registry.host}/team/app:1.0 (${DIGEST})`);
            assert.deepEqual(registry.seen, [
                { method: "GET", url: "/v2/", authorization: undefined, accept: "application/json" },
                { method: "HEAD", url: "/v2/team/app/manifests/1.0", authorization: basic(), accept: MANIFEST_ACCEPT },
            ]);
            assert.deepEqual(prober.stats, { registryChecks: 1, tokenRequests: 0, manifestRequests: 1 });
        });

        it("a wrong password is refused (401), a forbidden repository denied (403), a missing tag not found (404)", async () => {
            const registry = await start(basicRegistry({ forbidden: ["team/secret"] }));
            const prober = new RegistryProber(plain(registry));
            const refused = await prober.verdict(`${registry.host}/team/app:1.0`, [cred(OTHER_PASSWORD)]);
            assert.equal(refused.kind, "refused");
            assert.equal(refused.message, `${registry.host}/team/app:1.0: credential "registry.local" (user "puller", pull secret #0) is refused by ${registry.origin} (HTTP 401 for HEAD /v2/team/app/manifests/1.0)`);
            const denied = await prober.verdict(`${registry.host}/team/secret:1.0`, [cred()]);
            assert.equal(denied.kind, "denied");
            assert.match(denied.message, /is not allowed to pull team\/secret from .* \(HTTP 403 for HEAD \/v2\/team\/secret\/manifests\/1\.0\)$/);
            const missing = await prober.verdict(`${registry.host}/team/app:9.9`, [cred()]);
            assert.equal(missing.kind, "not-found");
            assert.match(missing.message, new RegExp(`no manifest ${registry.host}/team/app:9\\.9 on ${registry.origin} for credential`));
            assert.equal(registry.seen.filter((r) => r.url === "/v2/").length, 1, "the registry was checked more than once");
            assertNoLeak([refused, denied, missing]);
        });

        it("tries the credentials in order until one pulls, and no further", async () => {
            const registry = await start(basicRegistry());
            const prober = new RegistryProber(plain(registry));
            const v = await prober.verdict(`${registry.host}/team/app:1.0`, [cred(OTHER_PASSWORD, "a", 0), cred(PASSWORD, "b", 1), cred(OTHER_PASSWORD, "c", 2)]);
            assert.equal(v.kind, "pulls");
            assert.deepEqual(v.attempts.map((a) => [a.credential?.key, a.outcome]), [["a", "refused"], ["b", "pulls"]]);
            assert.equal(v.decisive?.credential?.key, "b");
            assert.match(v.message, /\(2 credentials tried\)$/);
            assert.deepEqual(registry.seen.slice(1).map((r) => r.authorization), [basic(OTHER_PASSWORD), basic()]);
        });

        it("never pulls anonymously when a credential matched, even where anonymous pulls would work", async () => {
            const registry = await start(basicRegistry({ open: ["team/app"] }));
            const prober = new RegistryProber(plain(registry));
            const v = await prober.verdict(`${registry.host}/team/app:1.0`, [cred(OTHER_PASSWORD)]);
            // The public repository ignores the wrong credentials: it pulls with them.
            assert.equal(v.kind, "pulls");
            assert.equal(v.attempts.length, 1);
            assert.ok(registry.seen.slice(1).every((r) => r.authorization === basic(OTHER_PASSWORD)));
        });

        it("pulls anonymously when no credential matched: refused on a private repository, pulls on a public one", async () => {
            const registry = await start(basicRegistry({ open: ["team/public"], manifests: ["team/app:1.0", "team/public:1.0"] }));
            const prober = new RegistryProber(plain(registry));
            const [priv, pub] = await Promise.all([prober.verdict(`${registry.host}/team/app:1.0`, []), prober.verdict(`${registry.host}/team/public:1.0`, [])]);
            assert.equal(priv.kind, "no-credential");
            assert.equal(priv.pulls, false);
            assert.equal(priv.decisive?.outcome, "refused");
            assert.equal(priv.message, `${registry.host}/team/app:1.0: no pull secret credential matches ${registry.host}/team/app; an anonymous pull is refused by ${registry.origin} (HTTP 401 for HEAD /v2/team/app/manifests/1.0)`);
            assert.equal(pub.kind, "no-credential");
            assert.equal(pub.pulls, true);
            assert.equal(pub.attempts[0].credential, null);
            assert.equal(pub.message, `${registry.host}/team/public:1.0: no pull secret credential matches ${registry.host}/team/public; an anonymous pull works (${DIGEST})`);
            assert.ok(registry.seen.every((r) => r.authorization === undefined));
        });

        it("an entry with neither user name nor password is sent as no credentials, as containerd does", async () => {
            const registry = await start(basicRegistry());
            const v = await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred("", "registry.local", 0, "")]);
            assert.equal(v.kind, "refused");
            assert.ok(registry.seen.every((r) => r.authorization === undefined));
        });
    });

    describe("Bearer", () => {
        it("gets a token for repository:<repo>:pull with the credential, and shows it to the manifest", async () => {
            const { tokens, registry } = await bearerPair(start);
            const prober = new RegistryProber(plain(registry));
            const v = await prober.verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "pulls", v.message);
            assert.deepEqual(tokens.seen, [{ method: "GET", url: "/token?service=registry.local&scope=repository%3Ateam%2Fapp%3Apull", authorization: basic(), accept: "application/json" }]);
            assert.deepEqual(registry.seen.at(-1), { method: "HEAD", url: "/v2/team/app/manifests/1.0", authorization: `Bearer ${TOKEN}:${USER}:team/app`, accept: MANIFEST_ACCEPT });
        });

        it("a token service refusing the credential (401) is a refusal; a token without the repository is denied", async () => {
            const { registry } = await bearerPair(start, { forbidden: ["team/secret"] });
            const prober = new RegistryProber(plain(registry));
            const refused = await prober.verdict(`${registry.host}/team/app:1.0`, [cred(OTHER_PASSWORD)]);
            assert.equal(refused.kind, "refused");
            assert.match(refused.message, /is refused by http:\/\/127\.0\.0\.1:\d+ \(HTTP 401 from the token service http:\/\/127\.0\.0\.1:\d+\/token\)$/);
            const denied = await prober.verdict(`${registry.host}/team/secret:1.0`, [cred()]);
            assert.equal(denied.kind, "denied");
            assert.match(denied.decisive!.cause, /^HTTP 401 \(error="insufficient_scope"\) with a token the token service issued for these credentials for HEAD \/v2\/team\/secret\/manifests\/1\.0$/);
            assertNoLeak([refused, denied]);
        });

        it("a token service answering 403 to the scope is a denial", async () => {
            const tokens = await start((_req, res) => res.writeHead(403).end());
            const registry = await start((_req, res) => res.writeHead(401, { "www-authenticate": `Bearer realm="${tokens.origin}/token",service="s"` }).end());
            const v = await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "denied");
            assert.equal(v.decisive?.cause, `HTTP 403 from the token service ${tokens.origin}/token`);
        });

        it("asks anonymous tokens without an Authorization header: refused by the token service, or a token without access", async () => {
            const strict = await bearerPair(start);
            const v1 = await new RegistryProber(plain(strict.registry)).verdict(`${strict.registry.host}/team/app:1.0`, []);
            assert.equal(v1.kind, "no-credential");
            assert.match(v1.message, /an anonymous pull is refused by .* \(HTTP 401 from the token service .*\/token\)$/);
            assert.equal(strict.tokens.seen[0].authorization, undefined);

            const hub = await bearerPair(start, { anonymousTokens: true, open: ["team/public"], manifests: ["team/app:1.0", "team/public:1.0"] });
            const prober = new RegistryProber(plain(hub.registry));
            const priv = await prober.verdict(`${hub.registry.host}/team/app:1.0`, []);
            assert.equal(priv.decisive?.outcome, "refused");
            assert.match(priv.decisive!.cause, /^HTTP 401 \(error="insufficient_scope"\) with an anonymous token/);
            const pub = await prober.verdict(`${hub.registry.host}/team/public:1.0`, []);
            assert.equal(pub.kind, "no-credential");
            assert.equal(pub.pulls, true);
        });

        it("one token per credential and repository, one HEAD per credential and manifest", async () => {
            const { tokens, registry } = await bearerPair(start, { manifests: ["team/app:1.0", "team/app:2.0"] });
            const prober = new RegistryProber(plain(registry));
            const image = (tag: string) => `${registry.host}/team/app:${tag}`;
            const verdicts = await Promise.all([
                prober.verdict(image("1.0"), [cred()]),
                prober.verdict(image("1.0"), [cred(PASSWORD, "other-key", 3)]),
                prober.verdict(image("2.0"), [cred()]),
                prober.verdict(image("1.0"), [cred(OTHER_PASSWORD)]),
                prober.verdict(image("2.0"), [cred(OTHER_PASSWORD)]),
            ]);
            assert.deepEqual(verdicts.map((v) => v.kind), ["pulls", "pulls", "pulls", "refused", "refused"]);
            // The same credential under another key shares the attempt; its verdict names its own key.
            assert.equal(verdicts[1].decisive?.credential?.key, "other-key");
            assert.equal(tokens.seen.length, 2, "one token per credential for team/app");
            assert.equal(registry.seen.filter((r) => r.method === "HEAD").length, 2);
            assert.equal(registry.seen.filter((r) => r.url === "/v2/").length, 1);
            assert.deepEqual(prober.stats, { registryChecks: 1, tokenRequests: 2, manifestRequests: 2 });
        });

        it("never sends credentials to a plain-HTTP realm named by an HTTPS registry", async () => {
            const tokens = await start((_req, res) => res.writeHead(200).end(JSON.stringify({ token: TOKEN })));
            const registry = await start((_req, res) => res.writeHead(401, { "www-authenticate": `Bearer realm="${tokens.origin}/token"` }).end(), cert);
            const v = await new RegistryProber({ caBundle: cert.cert }).verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "unexpected");
            assert.match(v.message, /plain-HTTP token service/);
            assert.equal(tokens.seen.length, 0);
        });

        it("a token that is not a valid header value is not sent", async () => {
            const tokens = await start((_req, res) => res.writeHead(200).end(JSON.stringify({ token: `${TOKEN}\r\nX-Injected: 1` })));
            const registry = await start((_req, res) => res.writeHead(401, { "www-authenticate": `Bearer realm="${tokens.origin}/token"` }).end());
            const v = await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "unexpected");
            assert.match(v.message, /the token service issued a token that is not a valid header value/);
            assert.equal(registry.seen.filter((r) => r.method === "HEAD").length, 0);
            assertNoLeak([v]);
        });
    });

    describe("what containerd does besides", () => {
        it("an open /v2/ with a private repository: answers the manifest's own challenge", async () => {
            const registry = await start((req, res) => {
                if (req.url === "/v2/") {
                    res.writeHead(200).end("{}");
                } else if (req.headers.authorization !== basic()) {
                    res.writeHead(401, { "www-authenticate": 'Basic realm="repo"' }).end();
                } else {
                    answerManifest(req, res, new Set(["team/app:1.0"]));
                }
            });
            const v = await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "pulls");
            assert.deepEqual(registry.seen.map((r) => [r.method, r.authorization]), [["GET", undefined], ["HEAD", undefined], ["HEAD", basic()]]);
        });

        it("asks with GET where HEAD is not allowed (405)", async () => {
            const registry = await start((req, res) => {
                if (req.method === "HEAD" && req.url !== "/v2/") {
                    res.writeHead(405).end();
                } else {
                    basicRegistry()(req, res);
                }
            });
            const v = await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "pulls");
            assert.equal(v.decisive?.cause, "HTTP 200 for GET /v2/team/app/manifests/1.0");
            assert.deepEqual(registry.seen.slice(1).map((r) => [r.method, r.accept]), [["HEAD", MANIFEST_ACCEPT], ["GET", MANIFEST_ACCEPT]]);
        });

        it("follows a redirect to another origin, without the Authorization header there", async () => {
            const elsewhere = await start((req, res) => answerManifest(req, res, new Set(["mirror/app:1.0"])));
            const registry = await start((req, res) => {
                if (req.url === "/v2/" || req.headers.authorization !== basic()) {
                    basicRegistry()(req, res);
                } else {
                    res.writeHead(307, { location: `http://${USER}:${PASSWORD}@${elsewhere.host}/v2/mirror/app/manifests/1.0?sig=${TOKEN}` }).end();
                }
            });
            const v = await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "pulls");
            assert.deepEqual(elsewhere.seen, [{ method: "HEAD", url: `/v2/mirror/app/manifests/1.0?sig=${TOKEN}`, authorization: undefined, accept: MANIFEST_ACCEPT }]);
            assertNoLeak([v]);
        });

        it("a redirect to an origin asking for credentials is unexpected: they are not sent there", async () => {
            const elsewhere = await start(basicRegistry());
            const registry = await start((req, res) =>
                req.url === "/v2/" ? basicRegistry()(req, res) : res.writeHead(307, { location: `${elsewhere.origin}${req.url}` }).end(),
            );
            const v = await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "unexpected");
            assert.equal(v.decisive?.cause, `HTTP 401 from ${elsewhere.origin} after a redirect (credentials are not sent to another origin)`);
            assert.deepEqual(elsewhere.seen.map((r) => r.authorization), [undefined]);
        });

        it("refuses a redirect from HTTPS to plain HTTP, and endless redirects", async () => {
            const target = await start((req, res) => answerManifest(req, res, new Set(["team/app:1.0"])));
            const down = await start((req, res) => (req.url === "/v2/" ? res.writeHead(200).end() : res.writeHead(302, { location: `${target.origin}${req.url}` }).end()), cert);
            const loop = await start((req, res) => (req.url === "/v2/" ? res.writeHead(200).end() : res.writeHead(302, { location: req.url }).end()));
            const prober = new RegistryProber({ caBundle: cert.cert, ...plain(loop) });
            const [v1, v2] = await Promise.all([prober.verdict(`${down.host}/team/app:1.0`, [cred()]), prober.verdict(`${loop.host}/team/app:1.0`, [cred()])]);
            assert.equal(v1.kind, "unexpected");
            assert.match(v1.message, /redirect from HTTPS to plain HTTP/);
            assert.equal(target.seen.length, 0);
            assert.equal(v2.kind, "unexpected");
            assert.match(v2.message, /more than 5 redirects/);
        });
    });

    describe("network, TLS and time", () => {
        it("a closed port is unreachable, with the code", async () => {
            const host = `127.0.0.1:${await closedPort()}`;
            const v = await new RegistryProber().verdict(`${host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "unreachable");
            assert.equal(v.message, `${host}/team/app:1.0: registry https://${host} is unreachable (ECONNREFUSED at /v2/)`);
        });

        it("a certificate no CA vouches for is a TLS failure, with the code; with the CA it pulls", async () => {
            const registry = await start(basicRegistry(), cert);
            const image = `${registry.host}/team/app:1.0`;
            const untrusted = await new RegistryProber().verdict(image, [cred()]);
            assert.equal(untrusted.kind, "tls");
            assert.match(untrusted.message, /TLS failure with https:\/\/127\.0\.0\.1:\d+ \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE) at \/v2\/\)$/);
            const trusted = await new RegistryProber({ caBundle: cert.cert }).verdict(image, [cred()]);
            assert.equal(trusted.kind, "pulls");
        });

        it("HTTPS to a plain-HTTP server is a TLS failure", async () => {
            const registry = await start(basicRegistry());
            const v = await new RegistryProber().verdict(`${registry.host}/team/app:1.0`, [cred()]);
            assert.equal(v.kind, "tls");
            assert.match(v.message, /\((ERR_SSL_WRONG_VERSION_NUMBER|EPROTO) at \/v2\/\)$/);
        });

        it("a registry that never answers costs one timeout, whatever the number of images", async () => {
            const silent = await start(() => undefined);
            const prober = new RegistryProber({ ...plain(silent), timeoutMs: 300 });
            const t0 = Date.now();
            const verdicts = await Promise.all(["a", "b", "c"].map((r) => prober.verdict(`${silent.host}/team/${r}:1.0`, [cred()])));
            assert.deepEqual(verdicts.map((v) => v.kind), ["timeout", "timeout", "timeout"]);
            assert.match(verdicts[0].message, /timed out \(no answer within 300 ms\)$/);
            assert.equal(silent.seen.length, 1);
            assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
        });

        it("manifests that never answer: after the first timeout, the waiting attempts are not sent", async () => {
            const registry = await start((req, res) => (req.url === "/v2/" ? basicRegistry()(req, res) : undefined));
            const prober = new RegistryProber({ ...plain(registry), timeoutMs: 300, concurrency: 1 });
            const verdicts = await Promise.all(["a", "b", "c"].map((r) => prober.verdict(`${registry.host}/team/${r}:1.0`, [cred()])));
            assert.deepEqual(verdicts.map((v) => v.kind), ["timeout", "timeout", "timeout"]);
            assert.equal(registry.seen.filter((r) => r.method === "HEAD").length, 1);
            assert.match(verdicts[2].decisive!.cause, /^no answer within 300 ms, earlier$/);
        });

        it("keeps at most `concurrency` requests in flight, over registries", async () => {
            // Requests being answered by either server, and the most at once.
            const inFlight = { now: 0, max: 0 };
            const slow = (h: Handler): Handler => (req, res) => {
                inFlight.max = Math.max(inFlight.max, ++inFlight.now);
                res.on("close", () => inFlight.now--);
                setTimeout(() => h(req, res), 50);
            };
            const manifests = ["a", "b", "c", "d", "e", "f"].map((r) => `team/${r}:1.0`);
            const one = await start(slow(basicRegistry({ manifests })));
            const two = await start(slow(basicRegistry({ manifests })));
            const prober = new RegistryProber({ endpoints: { [one.host]: one.origin, [two.host]: two.origin }, concurrency: 3 });
            const images = [one, two].flatMap((s) => manifests.map((m) => `${s.host}/${m}`));
            const verdicts = await Promise.all(images.map((image) => prober.verdict(image, [cred()])));
            assert.ok(verdicts.every((v) => v.kind === "pulls"));
            assert.equal(inFlight.max, 3);
            assert.equal(prober.stats.manifestRequests, 12);
        });
    });

    describe("invalid images", () => {
        it("an image the kubelet would refuse is a verdict, not an exception, and asks nothing", async () => {
            const v = await new RegistryProber().verdict("Team/App:1.0", [cred()]);
            assert.equal(v.kind, "invalid-image");
            assert.equal(v.pulls, false);
            assert.match(v.message, /^"Team\/App:1\.0": invalid image reference: /);
        });
    });

    describe("secrets", () => {
        it("no verdict of any kind carries the password, the Basic header, their base64, the token or the docker config", async () => {
            const basicReg = await start(basicRegistry({ forbidden: ["team/secret"] }));
            const { registry: bearerReg } = await bearerPair(start, { forbidden: ["team/secret"] });
            const tlsReg = await start(basicRegistry(), cert);
            const silent = await start(() => undefined);
            const odd = await start((req, res) => (req.url === "/v2/" ? basicRegistry()(req, res) : res.writeHead(500).end(JSON.stringify({ echo: req.headers.authorization }))));
            const closed = `127.0.0.1:${await closedPort()}`;
            // A key written with user:password@ in front of the host, as a docker config may hold it.
            const keyed = (host: string) => credentialsFor(`${host}/team/app:1.0`, [dockerConfigJson({ server: `https://${USER}:${OTHER_PASSWORD}@${host}`, username: USER, password: PASSWORD })]);
            const prober = new RegistryProber({
                endpoints: Object.fromEntries([basicReg, bearerReg, silent, odd].map((s) => [s.host, s.origin])),
                timeoutMs: 300,
            });
            const cases: [Verdict["kind"], string, Credential[]][] = [
                ["pulls", `${basicReg.host}/team/app:1.0`, keyed(basicReg.host)],
                ["pulls", `${bearerReg.host}/team/app:1.0`, [cred()]],
                ["no-credential", `${basicReg.host}/team/app:1.0`, []],
                ["refused", `${basicReg.host}/team/app:1.0`, [cred(OTHER_PASSWORD)]],
                ["refused", `${bearerReg.host}/team/app:1.0`, [cred(OTHER_PASSWORD)]],
                ["denied", `${basicReg.host}/team/secret:1.0`, [cred()]],
                ["denied", `${bearerReg.host}/team/secret:1.0`, [cred()]],
                ["not-found", `${bearerReg.host}/team/app:9.9`, [cred()]],
                ["unreachable", `${closed}/team/app:1.0`, [cred()]],
                ["tls", `${tlsReg.host}/team/app:1.0`, [cred()]],
                ["timeout", `${silent.host}/team/app:1.0`, [cred()]],
                ["unexpected", `${odd.host}/team/app:1.0`, [cred()]],
                ["invalid-image", `${basicReg.host}/Team/App:1.0`, [cred()]],
            ];
            const verdicts = await Promise.all(cases.map(([, image, creds]) => prober.verdict(image, creds)));
            assert.deepEqual(verdicts.map((v) => v.kind), cases.map(([kind]) => kind));
            assert.equal(verdicts[0].decisive?.credential?.key, `https://${basicReg.host}`);
            assertNoLeak(verdicts);
        });

        it("a hostile registry echoing the credentials and token in every header it sends gets none of it into the verdict", async () => {
            const echoing = (req: http.IncomingMessage, res: http.ServerResponse, status: number) => {
                const echo = `${req.headers.authorization ?? ""} ${TOKEN}`;
                res.writeHead(status, {
                    "docker-content-digest": echo,
                    "content-type": echo,
                    "www-authenticate": `Bearer realm="http://127.0.0.1:1/token",error="${echo}"`,
                    "x-echo": echo,
                });
                res.end();
            };
            const statuses = [200, 401, 403, 404, 429, 500];
            const verdicts: Verdict[] = [];
            for (const status of statuses) {
                const registry = await start((req, res) => (req.url === "/v2/" ? basicRegistry()(req, res) : echoing(req, res, status)));
                verdicts.push(await new RegistryProber(plain(registry)).verdict(`${registry.host}/team/app:1.0`, [cred()]));
            }
            assert.deepEqual(verdicts.map((v) => v.decisive?.outcome), ["pulls", "refused", "denied", "not-found", "unexpected", "unexpected"]);
            assert.equal(verdicts[0].decisive?.digest, undefined);
            assertNoLeak(verdicts);
        });

        it("the password is never in a URL: every request's target is the registry's path alone", async () => {
            const { tokens, registry } = await bearerPair(start);
            await probeImages([{ image: `${registry.host}/team/app:1.0`, credentials: [cred()] }], plain(registry));
            for (const r of [...tokens.seen, ...registry.seen]) {
                assert.equal(findEcho(r.url, [PASSWORD, TOKEN]), undefined, r.url);
            }
        });
    });
});
