/**
 * A minimal token server for the Distribution token auth spec
 * (https://distribution.github.io/distribution/spec/auth/token/), for the cluster tests.
 *
 * What is real and what is not: the registry that sends the Bearer challenge and then validates
 * the JWT (issuer, audience, expiry, signature, signing key against its `rootcertbundle`, and the
 * `access` claim against each request) is the real CNCF Distribution 2.8 started by
 * scripts/local-registry.sh. This issuer is written for the tests: it knows a fixed user map,
 * grants every scope it is asked for unless given per-user access rules, and keeps no state.
 *
 * What Distribution 2.8 requires of the JWT (registry/auth/token/token.go, and checked against
 * the running registry):
 * - header `alg` matching the key (ES256 for P-256, RS256 for RSA), and the signing key named
 *   by either `x5c` (base64 DER chain, leaf first, verifying up to a `rootcertbundle` cert) or
 *   `kid` (the libtrust fingerprint of a `rootcertbundle` cert's public key);
 * - `iss` equal to the configured issuer; `aud` a single string (2.8 rejects an array as a
 *   malformed token) equal to the configured service; `exp` and `nbf` within 60 s of leeway;
 * - `access`: [{type, name, actions}] covering what the request needs (none for `GET /v2/`).
 */
import { createHash, createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";

export interface TokenIssuerOptions {
    /** Port on 127.0.0.1; 0 picks a free one. */
    port: number;
    /** PEM private key that signs the JWTs (EC P-256 or RSA). */
    keyPem: string;
    /** PEM certificate of that key: the registry's `rootcertbundle`, or a leaf signed by it. */
    certPem: string;
    /** PEM intermediate certificate(s) sent after the leaf in `x5c`. */
    caPem?: string;
    /** How the JWT names its signing key; both are accepted by Distribution 2.8. Default x5c. */
    keyHeader?: "x5c" | "kid";
    /** The HTTPS serving key and certificate. */
    tlsKey: string;
    tlsCert: string;
    /** `iss` claim: the registry's `auth.token.issuer`. */
    issuer: string;
    /** The registry's `auth.token.service`: required as the `service` parameter, and the `aud` claim. */
    service: string;
    /** username -> password. */
    users: Map<string, string>;
    /**
     * Repositories each user may have tokens for ("*": any). Given, a scope on another repository
     * is left out of the token (the spec: the intersection of what is asked and allowed, possibly
     * empty), and a user not in the map gets none. Absent: every scope asked is granted.
     */
    access?: Map<string, string[] | "*">;
    /** Repositories a request without credentials gets pull tokens for; absent: such a request is refused. */
    anonymous?: string[];
    /** Token lifetime in seconds; default 300. */
    expiresIn?: number;
}

export interface TokenIssuer {
    /** The realm: https://127.0.0.1:PORT/token */
    url: string;
    /** Tokens handed out so far. */
    issued: number;
    close(): Promise<void>;
}

interface Access {
    type: string;
    name: string;
    actions: string[];
}

const base64url = (data: string | Buffer): string => Buffer.from(data).toString("base64url");

function pemBlocks(pem: string): string[] {
    return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
}

/**
 * libtrust's key ID: SHA-256 of the SubjectPublicKeyInfo DER, first 240 bits, base32 without
 * padding, in twelve groups of four joined by ':'.
 */
export function libtrustKeyId(certPem: string): string {
    const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
    const bits = [...createHash("sha256").update(spki).digest().subarray(0, 30)].map((b) => b.toString(2).padStart(8, "0")).join("");
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const base32 = bits.match(/.{5}/g)!.map((chunk) => alphabet[parseInt(chunk, 2)]).join("");
    return base32.match(/.{4}/g)!.join(":");
}

function algorithmOf(key: KeyObject): { alg: string; dsaEncoding?: "ieee-p1363" } {
    if (key.asymmetricKeyType === "rsa") {
        return { alg: "RS256" };
    }
    if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") {
        // JWS carries ECDSA signatures as r||s, not DER.
        return { alg: "ES256", dsaEncoding: "ieee-p1363" };
    }
    throw new Error("the token signing key must be RSA or EC P-256");
}

/** `repository:team/hello:pull,push` -> access entry; the name may itself hold ':'. */
function parseScope(scope: string): Access | undefined {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first < 0 || last === first) {
        return undefined;
    }
    return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(",").filter(Boolean) };
}

function basicCredentials(header: string | undefined): [string, string] | undefined {
    const m = /^Basic\s+(\S+)$/i.exec(header ?? "");
    if (!m) {
        return undefined;
    }
    const decoded = Buffer.from(m[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon < 0 ? undefined : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

export async function startTokenIssuer(opts: TokenIssuerOptions): Promise<TokenIssuer> {
    const key = createPrivateKey(opts.keyPem);
    const { alg, dsaEncoding } = algorithmOf(key);
    const chain = [...pemBlocks(opts.certPem), ...pemBlocks(opts.caPem ?? "")].map((pem) => new X509Certificate(pem).raw.toString("base64"));
    const keyHeader = opts.keyHeader === "kid" ? { kid: libtrustKeyId(opts.certPem) } : { x5c: chain };
    const expiresIn = opts.expiresIn ?? 300;

    function mint(subject: string, access: Access[]): string {
        const now = Math.floor(Date.now() / 1000);
        const header = { typ: "JWT", alg, ...keyHeader };
        const claims = { iss: opts.issuer, sub: subject, aud: opts.service, exp: now + expiresIn, nbf: now, iat: now, jti: randomUUID(), access };
        const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
        const signature = sign("sha256", Buffer.from(signingInput), { key, dsaEncoding });
        return `${signingInput}.${base64url(signature)}`;
    }

    const reply = (res: import("node:http").ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
    };

    const issuer: TokenIssuer = { url: "", issued: 0, close: async () => {} };
    const server: Server = createServer({ key: opts.tlsKey, cert: opts.tlsCert }, (req, res) => {
        const url = new URL(req.url ?? "/", "https://issuer.invalid");
        if (req.method !== "GET" || url.pathname !== "/token") {
            reply(res, 404, { errors: [{ code: "NOT_FOUND", message: "not found" }] });
            return;
        }
        const creds = req.headers.authorization === undefined && opts.anonymous ? (["", ""] as [string, string]) : basicCredentials(req.headers.authorization);
        if (!creds || (creds[0] !== "" && opts.users.get(creds[0]) !== creds[1])) {
            reply(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }, { "www-authenticate": 'Basic realm="token"' });
            return;
        }
        if (url.searchParams.get("service") !== opts.service) {
            reply(res, 400, { errors: [{ code: "DENIED", message: "unknown service" }] });
            return;
        }
        const asked = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).map(parseScope).filter((a): a is Access => a !== undefined);
        const allowed = creds[0] === "" ? opts.anonymous : opts.access && (opts.access.get(creds[0]) ?? []);
        const access = asked
            .filter((a) => allowed === undefined || allowed === "*" || allowed.includes(a.name))
            .map((a) => (creds[0] === "" ? { ...a, actions: a.actions.filter((x) => x === "pull") } : a));
        const token = mint(creds[0], access);
        issuer.issued++;
        reply(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() });
    });

    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.port, "127.0.0.1", () => {
            server.off("error", reject);
            resolve();
        });
    });
    issuer.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    issuer.close = () =>
        new Promise<void>((resolve, reject) => {
            server.close((err) => (err ? reject(err) : resolve()));
            server.closeAllConnections();
        });
    return issuer;
}
