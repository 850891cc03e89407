/**
 * The doctor's registry probe (doctor/registryProbe.ts) against real registries: CNCF
 * Distribution 2.8 with htpasswd (Basic) and with token (Bearer) auth, behind TLS from a private
 * CA, started by scripts/local-registry.sh, holding team/hello:1.0. The credentials are chosen
 * from real `.dockerconfigjson` documents (components/dockerConfig.ts, as the program writes
 * them) by doctor/credentialMatch.ts, as the kubelet chooses them.
 *
 * The token issuer is test code (test/support/tokenIssuer.ts) and grants every scope it is
 * asked for. A real token service grants only what the user may have (the Distribution token
 * spec: the intersection, possibly empty), so a small HTTPS front takes the realm's port here and
 * narrows the scopes by a per-user policy before passing the request on, and stands in for an
 * anonymous user where the policy allows anonymous pulls. What the registry then answers to the
 * token (the signature, the claims, `access` against each request) is Distribution's own.
 *
 *   export LOCAL_REGISTRY_ENV=$(scripts/local-registry.sh up | tail -1)
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as https from "node:https";
import { basicAuth, dockerConfigJson } from "../../components/dockerConfig";
import { credentialsFor } from "../../doctor/credentialMatch";
import { MANIFEST_MEDIA_TYPES, probeImages, RegistryProber, type Verdict } from "../../doctor/registryProbe";
import { findEcho } from "../support/echo";
import { closedPort } from "../support/ports";
import { leakForms } from "../support/secrets";
import type { TokenIssuer } from "../support/tokenIssuer";
import { loadRegistryEnv, type RegistryEnv, startRegistryTokenIssuer } from "./support/registryEnv";

const WRONG_PASSWORD = "not-the-password-5e0d";
const READER = "reader";
const READER_PASSWORD = `reader-${randomBytes(8).toString("hex")}`;
const ANONYMOUS = "anonymous-stand-in";
const ANONYMOUS_PASSWORD = randomBytes(12).toString("hex");

/** Repositories each user may pull ("*": all); `anonymous` null: no anonymous tokens at all. */
interface Policy {
    users: Map<string, string[] | "*">;
    anonymous: string[] | null;
}

interface Front {
    /** Tokens the issuer handed out through the front, to look for in verdicts. */
    tokens: string[];
    close(): Promise<void>;
}

/**
 * An HTTPS server on the realm's port: `GET /token` with the scopes `policy` allows (the others
 * dropped) goes on to the issuer, with the anonymous stand-in's credentials when none were given.
 */
async function startPolicyFront(env: RegistryEnv, ca: string, issuer: TokenIssuer, policy: Policy): Promise<Front> {
    const [key, cert] = await Promise.all([readFile(env.REGISTRY_TLS_KEY, "utf8"), readFile(env.REGISTRY_TLS_CERT, "utf8")]);
    const tokens: string[] = [];
    const server = https.createServer({ key, cert }, (req, res) => {
        const url = new URL(req.url ?? "/", "https://front.invalid");
        const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
        const user = basic === undefined ? undefined : Buffer.from(basic, "base64").toString("utf8").split(":")[0];
        const allowed = user === undefined ? policy.anonymous : (policy.users.get(user) ?? []);
        if (allowed === null) {
            res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Basic realm="token"' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
            return;
        }
        const onward = new URL(issuer.url);
        onward.searchParams.set("service", url.searchParams.get("service") ?? "");
        for (const scope of url.searchParams.getAll("scope").flatMap((s) => s.split(" "))) {
            const name = /^repository:(.+):[^:]+$/.exec(scope)?.[1];
            if (name !== undefined && (allowed === "*" || allowed.includes(name))) {
                onward.searchParams.append("scope", scope);
            }
        }
        const authorization = req.headers.authorization ?? `Basic ${basicAuth(ANONYMOUS, ANONYMOUS_PASSWORD)}`;
        https
            .get(onward, { ca, headers: { authorization }, agent: false }, (answer) => {
                const chunks: Buffer[] = [];
                answer.on("data", (c: Buffer) => chunks.push(c));
                answer.on("end", () => {
                    const body = Buffer.concat(chunks).toString("utf8");
                    try {
                        const token = (JSON.parse(body) as { token?: unknown }).token;
                        if (typeof token === "string") {
                            tokens.push(token);
                        }
                    } catch {
                        // Not a token: passed on as it is.
                    }
                    res.writeHead(answer.statusCode ?? 502, { "content-type": "application/json" }).end(body);
                });
            })
            .on("error", () => res.writeHead(502).end());
    });
    // The port is the registry's configured realm; a test of another suite may be releasing it.
    const deadline = Date.now() + 30_000;
    for (;;) {
        try {
            await new Promise<void>((resolve, reject) => {
                server.once("error", reject);
                server.listen(Number(env.TOKEN_ISSUER_PORT), "127.0.0.1", () => {
                    server.off("error", reject);
                    resolve();
                });
            });
            break;
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || Date.now() > deadline) {
                throw err;
            }
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
    }
    return {
        tokens,
        close: () =>
            new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            }),
    };
}

describe("doctor registry probe against real registries", function () {
    this.timeout(120000);
    let env: RegistryEnv;
    let ca: string;
    let repository: string;
    let tag: string;
    /** Every verdict of this suite, for the leak check at the end. */
    const verdicts: Verdict[] = [];
    const issuedTokens: string[] = [];

    /** One Secret's `.dockerconfigjson` for `host`. */
    const config = (host: string, password: string, username = env.REGISTRY_USER) => dockerConfigJson({ server: host, username, password });

    /** The verdict for `image` with the pod's pull Secrets `configs`, as the kubelet would choose the credentials. */
    async function verdict(image: string, configs: string[], prober = new RegistryProber({ caBundle: ca })): Promise<Verdict> {
        const v = await prober.verdict(image, credentialsFor(image, configs));
        verdicts.push(v);
        return v;
    }

    before(async function () {
        env = await loadRegistryEnv();
        ca = await readFile(env.REGISTRY_CA, "utf8");
        [repository, tag] = env.REGISTRY_IMAGE.split(":");
    });

    after(function () {
        const text = JSON.stringify(verdicts) + verdicts.map((v) => v.message).join("\n");
        const forms = [env.REGISTRY_PASSWORD, WRONG_PASSWORD, READER_PASSWORD].flatMap((password) => [
            ...leakForms({ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password }),
            ...leakForms({ server: env.REGISTRY_TOKEN_HOST, username: READER, password }),
        ]);
        for (const form of [...forms, ...issuedTokens]) {
            assert.ok(!text.includes(form), "a verdict carries a secret");
        }
        assert.equal(findEcho(text, [env.REGISTRY_PASSWORD, WRONG_PASSWORD, READER_PASSWORD, ...issuedTokens]), undefined);
        assert.ok(verdicts.length >= 15 && issuedTokens.length > 0, "the leak check saw too little");
    });

    describe("Basic auth (htpasswd registry)", function () {
        it("pulls with the right credential: the manifest's digest and media type", async function () {
            const image = `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`;
            const v = await verdict(image, [config(env.REGISTRY_BASIC_HOST, env.REGISTRY_PASSWORD)]);
            assert.equal(v.kind, "pulls", v.message);
            assert.equal(v.pulls, true);
            assert.match(v.decisive!.digest!, /^sha256:[0-9a-f]{64}$/);
            assert.ok((MANIFEST_MEDIA_TYPES as readonly string[]).includes(v.decisive!.mediaType!), v.decisive!.mediaType);
            assert.equal(v.decisive!.cause, `HTTP 200 for HEAD /v2/${repository}/manifests/${tag}`);

            // The same manifest by its digest.
            const byDigest = await verdict(`${env.REGISTRY_BASIC_HOST}/${repository}@${v.decisive!.digest}`, [config(env.REGISTRY_BASIC_HOST, env.REGISTRY_PASSWORD)]);
            assert.equal(byDigest.kind, "pulls", byDigest.message);
            assert.equal(byDigest.decisive!.digest, v.decisive!.digest);
        });

        it("a wrong password is refused (401)", async function () {
            const v = await verdict(`${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`, [config(env.REGISTRY_BASIC_HOST, WRONG_PASSWORD)]);
            assert.equal(v.kind, "refused");
            assert.equal(v.decisive!.status, 401);
            assert.match(v.message, /credential "127\.0\.0\.1:\d+" \(user "ci-pusher", pull secret #0\) is refused by https:\/\/127\.0\.0\.1:\d+ \(HTTP 401 for HEAD \/v2\/team\/hello\/manifests\/1\.0\)$/);
        });

        it("a missing tag, and a missing repository, are no such manifest (404)", async function () {
            const configs = [config(env.REGISTRY_BASIC_HOST, env.REGISTRY_PASSWORD)];
            const tagless = await verdict(`${env.REGISTRY_BASIC_HOST}/${repository}:no-such-tag`, configs);
            assert.equal(tagless.kind, "not-found", tagless.message);
            assert.equal(tagless.decisive!.cause, `HTTP 404 for HEAD /v2/${repository}/manifests/no-such-tag`);
            const nameless = await verdict(`${env.REGISTRY_BASIC_HOST}/team/no-such-repo:${tag}`, configs);
            assert.equal(nameless.kind, "not-found", nameless.message);
        });

        it("no credential matches: the anonymous pull is refused on the private registry", async function () {
            // A Secret for another registry only: nothing matches, the kubelet pulls anonymously.
            const v = await verdict(`${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`, [config("registry.example.org", env.REGISTRY_PASSWORD)]);
            assert.equal(v.kind, "no-credential");
            assert.equal(v.pulls, false);
            assert.deepEqual(v.attempts.map((a) => [a.credential, a.outcome, a.status]), [[null, "refused", 401]]);
            assert.match(v.message, /no pull secret credential matches 127\.0\.0\.1:\d+\/team\/hello; an anonymous pull is refused by/);
        });

        it("tries the matching credentials in the kubelet's order: a wrong one, then the right one pulls", async function () {
            const v = await verdict(`${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`, [
                config(env.REGISTRY_BASIC_HOST, WRONG_PASSWORD),
                config(env.REGISTRY_BASIC_HOST, env.REGISTRY_PASSWORD),
            ]);
            assert.equal(v.kind, "pulls", v.message);
            assert.deepEqual(v.attempts.map((a) => [a.credential?.secretIndex, a.outcome]), [[0, "refused"], [1, "pulls"]]);
        });

        it("asks once per distinct (credential, manifest), however many workloads name it", async function () {
            const configs = [config(env.REGISTRY_BASIC_HOST, env.REGISTRY_PASSWORD)];
            const image = `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`;
            const prober = new RegistryProber({ caBundle: ca, concurrency: 4 });
            const all = await Promise.all([image, image, `${image}`, image].map((i) => verdict(i, configs, prober)));
            assert.ok(all.every((v) => v.kind === "pulls"));
            assert.deepEqual(prober.stats, { registryChecks: 1, tokenRequests: 0, manifestRequests: 1 });
        });

        it("without the registry's CA: a TLS failure, with the cause", async function () {
            const v = await verdict(`${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`, [config(env.REGISTRY_BASIC_HOST, env.REGISTRY_PASSWORD)], new RegistryProber());
            assert.equal(v.kind, "tls");
            assert.match(v.message, /TLS failure with https:\/\/127\.0\.0\.1:\d+ \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY) at \/v2\/\)$/);
        });
    });

    describe("network failures", function () {
        it("a closed port is unreachable, with the cause", async function () {
            const host = `127.0.0.1:${await closedPort()}`;
            const v = await verdict(`${host}/${env.REGISTRY_IMAGE}`, [config(host, env.REGISTRY_PASSWORD)]);
            assert.equal(v.kind, "unreachable");
            assert.equal(v.message, `${host}/${env.REGISTRY_IMAGE}: registry https://${host} is unreachable (ECONNREFUSED at /v2/)`);
        });
    });

    describe("Bearer auth (token registry, the test issuer behind a policy front)", function () {
        let issuer: TokenIssuer;
        let front: Front | undefined;

        before(async function () {
            issuer = await startRegistryTokenIssuer(env, {
                port: 0,
                users: new Map([
                    [env.REGISTRY_USER, env.REGISTRY_PASSWORD],
                    [READER, READER_PASSWORD],
                    [ANONYMOUS, ANONYMOUS_PASSWORD],
                ]),
            });
        });

        after(async function () {
            await issuer?.close();
        });

        async function withFront(policy: Policy): Promise<void> {
            front = await startPolicyFront(env, ca, issuer, policy);
        }

        afterEach(async function () {
            issuedTokens.push(...(front?.tokens ?? []));
            await front?.close();
            front = undefined;
        });

        // ci-pusher may pull everything, reader only team/other; no anonymous tokens.
        const strict = (): Policy => ({ users: new Map<string, string[] | "*">([[env.REGISTRY_USER, "*"], [READER, ["team/other"]]]), anonymous: null });
        const image = () => `${env.REGISTRY_TOKEN_HOST}/${env.REGISTRY_IMAGE}`;

        it("pulls with the right credential, through a token for repository:team/hello:pull", async function () {
            await withFront(strict());
            const issuedBefore = issuer.issued;
            const v = await verdict(image(), [config(env.REGISTRY_TOKEN_HOST, env.REGISTRY_PASSWORD)]);
            assert.equal(v.kind, "pulls", v.message);
            assert.match(v.decisive!.digest!, /^sha256:[0-9a-f]{64}$/);
            assert.equal(issuer.issued - issuedBefore, 1);
        });

        it("a wrong password is refused by the token service (401)", async function () {
            await withFront(strict());
            const v = await verdict(image(), [config(env.REGISTRY_TOKEN_HOST, WRONG_PASSWORD)]);
            assert.equal(v.kind, "refused");
            assert.equal(v.decisive!.cause, `HTTP 401 from the token service https://127.0.0.1:${env.TOKEN_ISSUER_PORT}/token`);
        });

        it("a credential the token service accepts but grants nothing on this repository: not allowed (Distribution's insufficient_scope)", async function () {
            await withFront(strict());
            const v = await verdict(image(), [config(env.REGISTRY_TOKEN_HOST, READER_PASSWORD, READER)]);
            assert.equal(v.kind, "denied", v.message);
            assert.equal(v.decisive!.status, 401);
            assert.equal(v.decisive!.cause, `HTTP 401 (error="insufficient_scope") with a token the token service issued for these credentials for HEAD /v2/${repository}/manifests/${tag}`);
            assert.match(v.message, /credential "127\.0\.0\.1:\d+" \(user "reader", pull secret #0\) is not allowed to pull team\/hello from/);
        });

        it("a missing tag is no such manifest; over a denial by another credential it is the most telling", async function () {
            await withFront(strict());
            const v = await verdict(`${env.REGISTRY_TOKEN_HOST}/${repository}:no-such-tag`, [
                config(env.REGISTRY_TOKEN_HOST, env.REGISTRY_PASSWORD),
                config(env.REGISTRY_TOKEN_HOST, READER_PASSWORD, READER),
            ]);
            assert.equal(v.kind, "not-found", v.message);
            assert.deepEqual(v.attempts.map((a) => [a.credential?.username, a.outcome]), [[env.REGISTRY_USER, "not-found"], [READER, "denied"]]);
            assert.equal(v.decisive!.credential!.username, env.REGISTRY_USER);
        });

        it("no credential matches: the token service refuses an anonymous token", async function () {
            await withFront(strict());
            const v = await verdict(image(), []);
            assert.equal(v.kind, "no-credential");
            assert.equal(v.pulls, false);
            assert.equal(v.decisive!.cause, `HTTP 401 from the token service https://127.0.0.1:${env.TOKEN_ISSUER_PORT}/token`);
        });

        it("no credential matches: an anonymous token without access is refused; where anonymous may pull, it pulls", async function () {
            await withFront({ ...strict(), anonymous: ["team/other"] });
            const refused = await verdict(image(), []);
            assert.equal(refused.kind, "no-credential");
            assert.equal(refused.decisive!.outcome, "refused");
            assert.match(refused.decisive!.cause, /^HTTP 401 \(error="insufficient_scope"\) with an anonymous token/);
            await front!.close();
            await withFront({ ...strict(), anonymous: [repository] });
            const pulls = await verdict(image(), []);
            assert.equal(pulls.kind, "no-credential");
            assert.equal(pulls.pulls, true, pulls.message);
            assert.match(pulls.message, /an anonymous pull works \(sha256:[0-9a-f]{64}\)$/);
        });

        it("one token per credential and repository for several images", async function () {
            await withFront(strict());
            const configs = [config(env.REGISTRY_TOKEN_HOST, env.REGISTRY_PASSWORD)];
            const items = [`${repository}:${tag}`, `${repository}:no-such-tag`, `${repository}:${tag}`].map((ref) => ({
                image: `${env.REGISTRY_TOKEN_HOST}/${ref}`,
                credentials: credentialsFor(`${env.REGISTRY_TOKEN_HOST}/${ref}`, configs),
            }));
            const issuedBefore = issuer.issued;
            const all = await probeImages(items, { caBundle: ca });
            verdicts.push(...all);
            assert.deepEqual(all.map((v) => v.kind), ["pulls", "not-found", "pulls"]);
            assert.equal(issuer.issued - issuedBefore, 1);
        });

        it("a token service that is down: unreachable, at the token service", async function () {
            const v = await verdict(image(), [config(env.REGISTRY_TOKEN_HOST, env.REGISTRY_PASSWORD)]);
            assert.equal(v.kind, "unreachable");
            assert.equal(v.decisive!.cause, `ECONNREFUSED at the token service https://127.0.0.1:${env.TOKEN_ISSUER_PORT}/token`);
        });
    });
});
