/**
 * verifyCredentials against real registries: CNCF Distribution 2.8 with htpasswd (Basic) and
 * with token (Bearer) auth, both behind TLS from a private CA, started by
 * scripts/local-registry.sh. The token issuer is test code (test/support/tokenIssuer.ts); the
 * registry validating its JWTs is real. Two small local servers stand in where no registry can:
 * one that never answers (timeout) and a plain-HTTP Basic challenge.
 *
 *   export LOCAL_REGISTRY_ENV=$(scripts/local-registry.sh up | tail -1)
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { hashSync } from "bcryptjs";
import { formatProblems, type Problem } from "../../components/config";
import { basicAuth, dockerConfigJson } from "../../components/dockerConfig";
import { verifyCredentials, type RegistryProbe } from "../../components/verifyCredentials";
import type { TokenIssuer } from "../support/tokenIssuer";
import { closedPort } from "../support/ports";
import { plainBasicRegistry } from "../support/plainBasicRegistry";
import { loadRegistryEnv, type RegistryEnv, replaceHtpasswd, startRegistryTokenIssuer } from "./support/registryEnv";

const run = promisify(execFile);

/** Nothing in a problem may carry a secret: not the password, not the Basic header. */
function assertNoSecret(problems: Problem[], username: string, ...passwords: string[]): void {
    const text = JSON.stringify(problems) + formatProblems(problems);
    for (const password of passwords) {
        assert.ok(!text.includes(password), "a problem contains the password");
        assert.ok(!text.includes(basicAuth(username, password)), "a problem contains the Basic credentials");
    }
}

/** Connections open at once across silent servers, and the most seen. */
interface OpenCount {
    now: number;
    max: number;
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers. */
async function silentServer(open: OpenCount = { now: 0, max: 0 }): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
        sockets.add(socket);
        open.max = Math.max(open.max, ++open.now);
        socket.on("close", () => {
            open.now--;
            sockets.delete(socket);
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        close: () =>
            new Promise<void>((resolve) => {
                sockets.forEach((s) => s.destroy());
                server.close(() => resolve());
            }),
    };
}

describe("verifyCredentials against real registries", function () {
    let env: RegistryEnv;
    let ca: string;
    let probe: (path: string, server: string, password?: string) => RegistryProbe;

    before(async function () {
        env = await loadRegistryEnv();
        ca = await readFile(env.REGISTRY_CA, "utf8");
        probe = (path, server, password = env.REGISTRY_PASSWORD) => ({ path, server, username: env.REGISTRY_USER, password });
    });

    describe("Basic auth (htpasswd registry)", function () {
        it("accepts the right credentials when the CA is given", async function () {
            assert.deepEqual(await verifyCredentials([probe("registries[0]", env.REGISTRY_BASIC_HOST)], { caBundle: ca }), []);
        });

        it("accepts an https:// URL with a path, probing host:port only", async function () {
            const server = `https://${env.REGISTRY_BASIC_HOST}/v1/`;
            assert.deepEqual(await verifyCredentials([probe("registries[0]", server)], { caBundle: ca }), []);
        });

        it("reports a wrong password as rejected, naming path and server, never the password", async function () {
            const wrong = "not-the-password-3f9c";
            const problems = await verifyCredentials(
                [probe("registries[0]", env.REGISTRY_BASIC_HOST), probe("registries[1]", env.REGISTRY_BASIC_HOST, wrong)],
                { caBundle: ca },
            );
            assert.equal(problems.length, 1);
            assert.equal(problems[0].path, "registries[1]");
            assert.match(problems[0].message, new RegExp(`^${env.REGISTRY_BASIC_HOST}: credentials rejected \\(HTTP 401`));
            assert.match(formatProblems(problems), new RegExp(`registries\\[1\\]: ${env.REGISTRY_BASIC_HOST}: credentials rejected`));
            assertNoSecret(problems, env.REGISTRY_USER, wrong, env.REGISTRY_PASSWORD);
        });

        it("reports a TLS problem when the registry's CA is not trusted", async function () {
            const problems = await verifyCredentials([probe("registries[0]", env.REGISTRY_BASIC_HOST)]);
            assert.equal(problems.length, 1);
            assert.match(problems[0].message, /: TLS problem \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/);
            assert.match(problems[0].fix, /caBundle/);
        });

        it("sees a new htpasswd file without a restart", async function () {
            // Distribution 2.8 re-reads the file when its mtime changes; written whole, then renamed.
            const original = await readFile(env.REGISTRY_HTPASSWD, "utf8");
            const rotated = "rotated-password-7d1e";
            const replace = (content: string) => replaceHtpasswd(env, content);
            try {
                await replace(`${env.REGISTRY_USER}:${hashSync(rotated, 5)}\n`);
                const problems = await verifyCredentials(
                    [probe("registries[0]", env.REGISTRY_BASIC_HOST), probe("registries[1]", env.REGISTRY_BASIC_HOST, rotated)],
                    { caBundle: ca },
                );
                assert.deepEqual(
                    problems.map((p) => p.path),
                    ["registries[0]"],
                );
                assert.match(problems[0].message, /credentials rejected/);
            } finally {
                await replace(original);
            }
            assert.deepEqual(await verifyCredentials([probe("registries[0]", env.REGISTRY_BASIC_HOST)], { caBundle: ca }), []);
        });
    });

    describe("network failures", function () {
        it("reports a closed port as unreachable", async function () {
            const server = `127.0.0.1:${await closedPort()}`;
            const problems = await verifyCredentials([probe("registries[2]", server)]);
            assert.equal(problems.length, 1);
            assert.equal(problems[0].message, `${server}: unreachable (ECONNREFUSED)`);
        });

        it("reports a server that never answers as a timeout", async function () {
            const silent = await silentServer();
            try {
                const problems = await verifyCredentials([probe("registries[0]", `127.0.0.1:${silent.port}`)], { timeoutMs: 500 });
                assert.equal(problems.length, 1);
                assert.match(problems[0].message, /: timeout \(no answer within 500 ms\)$/);
            } finally {
                await silent.close();
            }
        });

        it("probes concurrently: three registries that never answer are all waited for at once", async function () {
            // Probed one after another, each would time out (and close) before the next connects:
            // at most one connection open at a time, however fast or slow this machine is.
            const open: OpenCount = { now: 0, max: 0 };
            const silent = await Promise.all([silentServer(open), silentServer(open), silentServer(open)]);
            const plain = await plainBasicRegistry(env.REGISTRY_USER, env.REGISTRY_PASSWORD);
            try {
                const problems = await verifyCredentials(
                    [
                        probe("registries[0]", env.REGISTRY_BASIC_HOST),
                        probe("registries[1]", env.REGISTRY_BASIC_HOST, "wrong"),
                        probe("registries[2]", `127.0.0.1:${await closedPort()}`),
                        ...silent.map((s, i) => probe(`registries[${3 + i}]`, `127.0.0.1:${s.port}`)),
                        probe("registries[6]", `http://${plain.host}`),
                    ],
                    { timeoutMs: 2000, caBundle: ca },
                );
                assert.deepEqual(
                    problems.map((p) => [p.path, /credentials rejected|unreachable|timeout/.exec(p.message)?.[0]]),
                    [
                        ["registries[1]", "credentials rejected"],
                        ["registries[2]", "unreachable"],
                        ["registries[3]", "timeout"],
                        ["registries[4]", "timeout"],
                        ["registries[5]", "timeout"],
                    ],
                );
                assert.equal(open.max, 3, "the silent registries were not probed at the same time");
            } finally {
                await Promise.all([...silent.map((s) => s.close()), plain.close()]);
            }
        });
    });

    describe("plain HTTP (a local stand-in answering like a Basic-auth registry)", function () {
        it("probes an http:// server over plain HTTP: right credentials ok, wrong ones rejected", async function () {
            const plain = await plainBasicRegistry(env.REGISTRY_USER, env.REGISTRY_PASSWORD);
            try {
                const server = `http://${plain.host}`;
                const problems = await verifyCredentials([probe("registries[0]", server), probe("registries[1]", server, "wrong")]);
                assert.deepEqual(
                    problems.map((p) => [p.path, p.message]),
                    [["registries[1]", `${server}: credentials rejected (HTTP 401 from /v2/)`]],
                );
                // Anonymous and authenticated /v2/ for each probe.
                assert.equal(plain.requests, 4);
            } finally {
                await plain.close();
            }
        });

        it("accepts any credentials where /v2/ answers 200 with no challenge, as docker login does", async function () {
            const open = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
            await new Promise<void>((resolve) => open.listen(0, "127.0.0.1", resolve));
            try {
                const server = `http://127.0.0.1:${(open.address() as net.AddressInfo).port}`;
                assert.deepEqual(await verifyCredentials([probe("registries[0]", server, "anything")]), []);
            } finally {
                await new Promise<void>((resolve) => open.close(() => resolve()));
            }
        });
    });

    describe("Bearer auth (token registry and a test token issuer)", function () {
        let issuer: TokenIssuer | undefined;

        async function startIssuer(keyHeader: "x5c" | "kid"): Promise<TokenIssuer> {
            issuer = await startRegistryTokenIssuer(env, {
                keyHeader,
                users: new Map([[env.REGISTRY_USER, env.REGISTRY_PASSWORD]]),
            });
            return issuer;
        }

        afterEach(async function () {
            await issuer?.close();
            issuer = undefined;
        });

        for (const keyHeader of ["x5c", "kid"] as const) {
            it(`accepts the right credentials (JWT naming its key by ${keyHeader})`, async function () {
                const started = await startIssuer(keyHeader);
                assert.deepEqual(await verifyCredentials([probe("registries[0]", env.REGISTRY_TOKEN_HOST)], { caBundle: ca }), []);
                // The registry accepted a token this issuer signed, not some other way in.
                assert.equal(started.issued, 1);
            });
        }

        it("reports wrong credentials as rejected by the token service", async function () {
            const started = await startIssuer("x5c");
            const wrong = "not-the-password-b2a4";
            const problems = await verifyCredentials([probe("registries[0]", env.REGISTRY_TOKEN_HOST, wrong)], { caBundle: ca });
            assert.equal(problems.length, 1);
            assert.match(problems[0].message, new RegExp(`^${env.REGISTRY_TOKEN_HOST}: credentials rejected \\(HTTP 401 from the token service https://127\\.0\\.0\\.1:${env.TOKEN_ISSUER_PORT}/token\\)$`));
            assert.equal(started.issued, 0);
            assertNoSecret(problems, env.REGISTRY_USER, wrong, env.REGISTRY_PASSWORD);
        });

        it("never sends credentials to a plain-HTTP token service named by an HTTPS registry", async function () {
            // A plain-HTTP token service that counts what reaches it.
            let requests = 0;
            const tokens = http.createServer((_req, res) => {
                requests++;
                res.end("{}");
            });
            await new Promise<void>((resolve) => tokens.listen(0, "127.0.0.1", resolve));
            const tokenPort = (tokens.address() as net.AddressInfo).port;
            // An HTTPS stand-in registry (the local registry's certificate) sending clients there.
            const [cert, key] = await Promise.all([readFile(env.REGISTRY_TLS_CERT), readFile(env.REGISTRY_TLS_KEY)]);
            const registry = https.createServer({ cert, key }, (_req, res) => {
                res.writeHead(401, { "www-authenticate": `Bearer realm="http://127.0.0.1:${tokenPort}/token",service="svc"` });
                res.end();
            });
            await new Promise<void>((resolve) => registry.listen(0, "127.0.0.1", resolve));
            try {
                const host = `127.0.0.1:${(registry.address() as net.AddressInfo).port}`;
                const problems = await verifyCredentials([probe("registries[0]", host)], { caBundle: ca });
                assert.equal(problems.length, 1);
                assert.match(problems[0].message, /plain-HTTP token service/);
                assert.equal(requests, 0, "the credentials went to the plain-HTTP token service");
            } finally {
                registry.close();
                tokens.close();
            }
        });

        it("reports a token service that is down as unreachable", async function () {
            const problems = await verifyCredentials([probe("registries[0]", env.REGISTRY_TOKEN_HOST)], { caBundle: ca });
            assert.equal(problems.length, 1);
            assert.match(problems[0].message, /: unreachable \(ECONNREFUSED at the token service https:\/\/127\.0\.0\.1:\d+\/token\)$/);
        });
    });

    describe("a real image client (skopeo) with the .dockerconfigjson the program writes", function () {
        let dir: string;

        before(async function () {
            dir = await mkdtemp(join(tmpdir(), "registry-access-skopeo-"));
        });

        after(async function () {
            await rm(dir, { recursive: true, force: true });
        });

        /** `skopeo inspect` of the test image with FILE as its only credentials. */
        async function inspect(host: string, password: string): Promise<{ ok: true; manifest: { Name: string; Digest: string } } | { ok: false; stderr: string }> {
            const authfile = join(dir, "config.json");
            await writeFile(authfile, dockerConfigJson({ server: host, username: env.REGISTRY_USER, password }));
            const args = ["inspect", "--authfile", authfile, "--cert-dir", env.REGISTRY_CERT_DIR, `docker://${host}/${env.REGISTRY_IMAGE}`];
            try {
                // HOME and XDG_RUNTIME_DIR point at the temp dir so no other auth file is found.
                const { stdout } = await run("skopeo", args, { timeout: 30_000, env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir } });
                return { ok: true, manifest: JSON.parse(stdout) as { Name: string; Digest: string } };
            } catch (err) {
                const e = err as NodeJS.ErrnoException & { stderr?: string };
                if (e.code === "ENOENT") {
                    throw new Error("skopeo is not installed: scripts/local-registry.sh up installs it");
                }
                return { ok: false, stderr: e.stderr ?? "" };
            }
        }

        it("pulls the image manifest from the Basic registry; a wrong password is unauthorized", async function () {
            const good = await inspect(env.REGISTRY_BASIC_HOST, env.REGISTRY_PASSWORD);
            assert.ok(good.ok, good.ok ? "" : good.stderr);
            assert.equal(good.manifest.Name, `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE.split(":")[0]}`);
            assert.match(good.manifest.Digest, /^sha256:[0-9a-f]{64}$/);

            const bad = await inspect(env.REGISTRY_BASIC_HOST, "wrong");
            assert.ok(!bad.ok, "skopeo succeeded with a wrong password");
            assert.match(bad.stderr, /unauthorized/);
        });

        it("pulls the image manifest through the token flow, with a token from the test issuer", async function () {
            const issuer = await startRegistryTokenIssuer(env, {
                users: new Map([[env.REGISTRY_USER, env.REGISTRY_PASSWORD]]),
            });
            try {
                const good = await inspect(env.REGISTRY_TOKEN_HOST, env.REGISTRY_PASSWORD);
                assert.ok(good.ok, good.ok ? "" : good.stderr);
                assert.ok(issuer.issued > 0);
                const bad = await inspect(env.REGISTRY_TOKEN_HOST, "wrong");
                assert.ok(!bad.ok, "skopeo succeeded with a wrong password");
                // Refused for the credentials, not failing for some other reason.
                assert.match(bad.stderr, /unauthorized/);
            } finally {
                await issuer.close();
            }
        });
    });
});
