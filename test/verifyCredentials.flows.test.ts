/**
 * The credential probe's flows against local stand-ins, plain HTTP (an http:// server is probed
 * over HTTP, its token service too) and HTTPS with a self-signed certificate: Bearer with a token
 * service, the ways a registry or token service can answer wrongly, dropped connections, TLS,
 * timeouts and oversized answers. Real registries: test/cluster/.
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as https from "node:https";
import type * as net from "node:net";
import { verifyCredentials } from "../components/verifyCredentials";
import { basicAuth } from "../components/dockerConfig";
import { findEcho } from "./support/echo";
import { closedPort } from "./support/ports";
import { selfSignedCert } from "./support/selfSignedCert";

const USER = "puller";
const PASSWORD = "Fl0ws-Pa55word:<&>";
const TOKEN = "t0ken-abc.def.ghi";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A local HTTP server, HTTPS with `tls`; `seen` records each request's path and headers. */
async function serve(handler: Handler, tls?: { key: string; cert: string }) {
    const seen: { url: string; authorization?: string; accept?: string }[] = [];
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
        seen.push({ url: req.url ?? "", authorization: req.headers.authorization, accept: req.headers.accept });
        handler(req, res);
    };
    const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const origin = `${tls ? "https" : "http"}://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    return {
        origin,
        seen,
        close: () => {
            server.closeAllConnections();
            return new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

const basic = `Basic ${basicAuth(USER, PASSWORD)}`;
const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));

/** A token service answering `answer` to the right credentials, 401 to others. */
const tokenService = (answer: (res: http.ServerResponse) => void): Handler => (req, res) =>
    req.headers.authorization === basic ? answer(res) : json(res, 401, { errors: [{ code: "UNAUTHORIZED" }] });

/** A registry sending clients to REALM, and accepting only the token. */
const bearerRegistry = (realm: () => string): Handler => (req, res) =>
    req.headers.authorization === `Bearer ${TOKEN}`
        ? json(res, 200, {})
        : json(res, 401, {}, { "www-authenticate": `Bearer realm="${realm()}",service="registry.local",scope="repository:team/app:pull"` });

async function probe(server: string, password = PASSWORD, timeoutMs?: number, caBundle?: string) {
    const problems = await verifyCredentials([{ path: "registries[0]", server, username: USER, password }], { timeoutMs, caBundle });
    assert.equal(findEcho(JSON.stringify(problems), [password]), undefined, "a problem carries the password");
    return problems;
}

describe("verifyCredentials flows (local plain-HTTP stand-ins)", function () {
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

    it("Bearer: gets a token with the credentials, with the service and scope asked for, and shows it to /v2/", async () => {
        const tokens = await start(tokenService((res) => json(res, 200, { token: TOKEN })));
        const registry = await start(bearerRegistry(() => `${tokens.origin}/token`));
        assert.deepEqual(await probe(registry.origin), []);
        assert.deepEqual(tokens.seen, [{ url: "/token?service=registry.local&scope=repository%3Ateam%2Fapp%3Apull", authorization: basic, accept: "application/json" }]);
        assert.deepEqual(registry.seen, [
            { url: "/v2/", authorization: undefined, accept: "application/json" },
            { url: "/v2/", authorization: `Bearer ${TOKEN}`, accept: "application/json" },
        ]);
    });

    it("Bearer: takes access_token when there is no token, and asks for no scope when none was given", async () => {
        const tokens = await start(tokenService((res) => json(res, 200, { access_token: TOKEN })));
        const registry = await start((req, res) =>
            req.headers.authorization === `Bearer ${TOKEN}` ? json(res, 200, {}) : json(res, 401, {}, { "www-authenticate": `Bearer realm="${tokens.origin}/token"` }),
        );
        assert.deepEqual(await probe(registry.origin), []);
        assert.deepEqual(tokens.seen.map((r) => r.url), ["/token"]);
    });

    it("Bearer: wrong credentials are rejected by the token service", async () => {
        const tokens = await start(tokenService((res) => json(res, 200, { token: TOKEN })));
        const registry = await start(bearerRegistry(() => `${tokens.origin}/token`));
        const problems = await probe(registry.origin, "Wr0ng-Pa55word");
        assert.deepEqual(problems, [
            {
                path: "registries[0]",
                message: `${registry.origin}: credentials rejected (HTTP 401 from the token service ${tokens.origin}/token)`,
                fix: "check registries[0].username and registries[0].password: pulumi config set --secret --path 'registries[0].password' <password>",
            },
        ]);
    });

    for (const [what, answer, cause] of [
        ["no token", (res: http.ServerResponse) => json(res, 200, { expires_in: 60 }), "the token service TOKEN answered 200 without a token"],
        ["an empty token", (res: http.ServerResponse) => json(res, 200, { token: "" }), "the token service TOKEN answered 200 without a token"],
        ["no JSON", (res: http.ServerResponse) => res.writeHead(200).end("<html>"), "the token service TOKEN answered 200 without a token"],
        ["HTTP 500", (res: http.ServerResponse) => res.writeHead(500).end(), "HTTP 500 from the token service TOKEN"],
        ["HTTP 403", (res: http.ServerResponse) => res.writeHead(403).end(), null],
    ] as const) {
        it(`Bearer: a token service answering ${what} is reported as such`, async () => {
            const tokens = await start((_req, res) => answer(res));
            const registry = await start(bearerRegistry(() => `${tokens.origin}/token`));
            const problems = await probe(registry.origin);
            assert.equal(problems.length, 1);
            const expected = cause === null
                ? `${registry.origin}: credentials rejected (HTTP 403 from the token service ${tokens.origin}/token)`
                : `${registry.origin}: unexpected response (${cause.replace("TOKEN", `${tokens.origin}/token`)})`;
            assert.equal(problems[0].message, expected);
        });
    }

    it("Bearer: a token /v2/ does not accept is reported", async () => {
        const tokens = await start(tokenService((res) => json(res, 200, { token: "not-the-token" })));
        const registry = await start(bearerRegistry(() => `${tokens.origin}/token`));
        const [problem] = await probe(registry.origin);
        assert.equal(problem.message, `${registry.origin}: credentials rejected (HTTP 401 from /v2/ with the issued token)`);
    });

    for (const [realm, cause] of [
        ["", "Bearer challenge without a valid realm"],
        ["not a url", "Bearer challenge without a valid realm"],
        ["ftp://127.0.0.1/token", "Bearer challenge realm is not an http(s) URL"],
    ]) {
        it(`Bearer: a realm of ${JSON.stringify(realm)} is refused before any credentials are sent`, async () => {
            const registry = await start(bearerRegistry(() => realm));
            const [problem] = await probe(registry.origin);
            assert.equal(problem.message, `${registry.origin}: unexpected response (${cause})`);
            assert.match(problem.fix, /^check that registries\[0\]\.server is the address of a registry/);
            assert.ok(registry.seen.every((r) => r.authorization === undefined));
        });
    }

    it("an open registry (200 without a challenge) needs no credentials, as docker login says", async () => {
        const registry = await start((_req, res) => json(res, 200, {}));
        assert.deepEqual(await probe(registry.origin), []);
        assert.equal(registry.seen.length, 1);
    });

    for (const [what, handler, cause] of [
        ["HTTP 404 to /v2/", (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(404).end(), "HTTP 404 from /v2/"],
        ["401 without a challenge", (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(401).end(), "401 from /v2/ without a Basic or Bearer challenge"],
        ["401 with another scheme", (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(401, { "www-authenticate": 'Negotiate realm="x"' }).end(), "401 from /v2/ without a Basic or Bearer challenge"],
        ["Basic, then HTTP 500", (req: http.IncomingMessage, res: http.ServerResponse) => (req.headers.authorization ? res.writeHead(500).end() : res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end()), "HTTP 500 from /v2/"],
    ] as const) {
        it(`a registry answering ${what} is reported as an unexpected response`, async () => {
            const registry = await start(handler);
            const [problem] = await probe(registry.origin);
            assert.equal(problem.message, `${registry.origin}: unexpected response (${cause})`);
        });
    }

    it("Basic: sends the credentials only after the challenge; 403 is a rejection too", async () => {
        const registry = await start((req, res) =>
            req.headers.authorization ? res.writeHead(403).end() : res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end(),
        );
        const [problem] = await probe(registry.origin);
        assert.equal(problem.message, `${registry.origin}: credentials rejected (HTTP 403 from /v2/)`);
        assert.deepEqual(registry.seen.map((r) => r.authorization), [undefined, basic]);
    });

    it("an answer over 1 MiB is refused", async () => {
        const registry = await start((_req, res) => {
            res.writeHead(200, { "content-type": "application/octet-stream" });
            res.end(Buffer.alloc((1 << 20) + 1024, 0x61));
        });
        const [problem] = await probe(registry.origin);
        assert.equal(problem.message, `${registry.origin}: unexpected response (response too large)`);
    });

    it("a registry that never answers is a timeout, reported with the time allowed", async () => {
        const registry = await start(() => undefined);
        const [problem] = await probe(registry.origin, PASSWORD, 300);
        assert.deepEqual(problem, {
            path: "registries[0]",
            message: `${registry.origin}: timeout (no answer within 300 ms)`,
            fix: "check that registries[0].server answers from here, or allow more time",
        });
    });

    it("reports a server it cannot read without any request", async () => {
        const problems = await verifyCredentials([{ path: "registries[3]", server: "not a server", username: USER, password: PASSWORD }]);
        assert.deepEqual(problems, [{ path: "registries[3]", message: "server is not host[:port] or an http(s):// URL", fix: "write host[:port][/path] or an http(s):// URL" }]);
    });
    it("Basic: a registry answering 200 with a challenge is still shown the credentials", async () => {
        const registry = await start((req, res) =>
            req.headers.authorization === basic ? json(res, 200, {}) : json(res, req.headers.authorization ? 401 : 200, {}, { "www-authenticate": 'Basic realm="r"' }),
        );
        assert.deepEqual(await probe(registry.origin), []);
        const [problem] = await probe(registry.origin, "Wr0ng-Pa55word");
        assert.equal(problem.message, `${registry.origin}: credentials rejected (HTTP 401 from /v2/)`);
    });

    it("an answer of exactly 1 MiB is read", async () => {
        const registry = await start((_req, res) => {
            res.writeHead(200, { "content-type": "application/octet-stream" });
            res.end(Buffer.alloc(1 << 20, 0x61));
        });
        assert.deepEqual(await probe(registry.origin), []);
    });

    // Dropped connections are named by the request they broke; the first /v2/ goes unnamed.
    for (const [what, handler, cause] of [
        ["Basic: closing the connection on the credentials", (req: http.IncomingMessage, res: http.ServerResponse) => (req.headers.authorization ? req.socket.destroy() : res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end()), "unreachable (ECONNRESET)"],
        ["cutting an answer short", (req: http.IncomingMessage, res: http.ServerResponse) => {
            res.writeHead(200, { "content-length": "100" }).write("{");
            setTimeout(() => req.socket.destroy(), 20);
        }, "unreachable (ECONNRESET)"],
    ] as const) {
        it(`a registry ${what} is reported as unreachable`, async () => {
            const registry = await start(handler);
            const [problem] = await probe(registry.origin);
            assert.equal(problem.message, `${registry.origin}: ${cause}`);
        });
    }

    it("Bearer: a registry closing the connection on the issued token is reported as unreachable", async () => {
        const tokens = await start(tokenService((res) => json(res, 200, { token: TOKEN })));
        const registry = await start((req, res) =>
            req.headers.authorization ? req.socket.destroy() : json(res, 401, {}, { "www-authenticate": `Bearer realm="${tokens.origin}/token"` }),
        );
        const [problem] = await probe(registry.origin);
        assert.equal(problem.message, `${registry.origin}: unreachable (ECONNRESET)`);
    });

    it("Bearer: a token service that does not answer is named in the problem", async () => {
        const realm = `http://127.0.0.1:${await closedPort()}/token`;
        const registry = await start(bearerRegistry(() => realm));
        const [problem] = await probe(registry.origin);
        assert.deepEqual(problem, {
            path: "registries[0]",
            message: `${registry.origin}: unreachable (ECONNREFUSED at the token service ${realm})`,
            fix: "check the host and port in registries[0].server, and that this machine can reach it",
        });
    });

    describe("over HTTPS (a self-signed certificate, trusted through caBundle)", () => {
        let tls: { key: string; cert: string };
        before(() => {
            tls = selfSignedCert();
        });

        /** One HTTPS server as registry and token service at /token, or sending clients to `realm`. */
        const httpsBearer = (realm?: string) => {
            let origin = "";
            const registry = start((req, res) => {
                if (req.url?.startsWith("/token")) {
                    return tokenService((r) => json(r, 200, { token: TOKEN }))(req, res);
                }
                return bearerRegistry(() => realm ?? `${origin}/token`)(req, res);
            }, tls);
            return registry.then((r) => ((origin = r.origin), r));
        };

        it("Bearer: an HTTPS registry with an HTTPS token service accepts the credentials", async () => {
            const registry = await httpsBearer();
            assert.deepEqual(await probe(registry.origin, PASSWORD, undefined, tls.cert), []);
            assert.deepEqual(registry.seen.map((r) => [r.url, r.authorization]), [
                ["/v2/", undefined],
                ["/token?service=registry.local&scope=repository%3Ateam%2Fapp%3Apull", basic],
                ["/v2/", `Bearer ${TOKEN}`],
            ]);
        });

        it("Bearer: an HTTPS registry sending the credentials to a plain-HTTP token service is refused before they are sent", async () => {
            const tokens = await start(tokenService((res) => json(res, 200, { token: TOKEN })));
            const registry = await httpsBearer(`${tokens.origin}/token`);
            const [problem] = await probe(registry.origin, PASSWORD, undefined, tls.cert);
            assert.equal(problem.message, `${registry.origin}: unexpected response (Bearer challenge sends the credentials to a plain-HTTP token service)`);
            assert.match(problem.fix, /^check that registries\[0\]\.server is the address of a registry/);
            assert.deepEqual(tokens.seen, []);
        });

        it("a certificate no CA vouches for is a TLS problem, fixed with caBundle", async () => {
            const registry = await httpsBearer();
            assert.deepEqual(await probe(registry.origin), [
                {
                    path: "registries[0]",
                    message: `${registry.origin}: TLS problem (DEPTH_ZERO_SELF_SIGNED_CERT)`,
                    fix: `add the CA certificate that signed the registry's certificate to caBundle: pulumi config set caBundle -- "$(cat ca.pem)"`,
                },
            ]);
            assert.deepEqual(registry.seen, []);
        });

        it("https:// to a plain-HTTP registry is a TLS problem, fixed by writing http://", async () => {
            const registry = await start((_req, res) => json(res, 200, {}));
            const server = registry.origin.replace("http://", "https://");
            assert.deepEqual(await probe(server), [
                {
                    path: "registries[0]",
                    message: `${server}: TLS problem (EPROTO)`,
                    fix: "if the registry serves plain HTTP, write registries[0].server as http://HOST:PORT",
                },
            ]);
        });
    });
});
