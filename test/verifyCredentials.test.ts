/** The credential probe's parsing, without a network (real registries: test/cluster/). */
import * as assert from "node:assert/strict";
import { parseChallenge, registryBase, verifyCredentials } from "../components/verifyCredentials";

// Assignable, unlike an ES import binding: the tests below answer for the resolver.
const dns = require("node:dns") as typeof import("node:dns");

describe("verifyCredentials parsing", () => {
    it("reads a Bearer challenge's realm, service and scope", () => {
        assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"'), {
            scheme: "bearer",
            params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:a/b:pull" },
        });
    });

    // RFC 9110 11.6.1: a quoted-string may hold commas and spaces; splitting at them lost `scope`
    // and asked the token service for the wrong service.
    it("reads a quoted parameter holding a comma whole, and the parameters after it", () => {
        assert.deepEqual(parseChallenge('Bearer realm="https://auth.example.org/token",service="Example Registry, EU West",scope="repository:team/app:pull"'), {
            scheme: "bearer",
            params: { realm: "https://auth.example.org/token", service: "Example Registry, EU West", scope: "repository:team/app:pull" },
        });
        assert.deepEqual(parseChallenge('Basic realm="a, Bearer b", charset="UTF-8"'), { scheme: "basic", params: { realm: "a, Bearer b", charset: "UTF-8" } });
        assert.deepEqual(parseChallenge('Bearer realm = "https://t" , Service=svc'), { scheme: "bearer", params: { realm: "https://t", service: "svc" } });
        assert.deepEqual(parseChallenge('Negotiate abc==, Bearer realm="https://t"'), { scheme: "bearer", params: { realm: "https://t" } });
        assert.deepEqual(parseChallenge('Bearer __proto__="x", realm="https://t"'), { scheme: "bearer", params: { realm: "https://t" } });
        // Stray text inside a challenge is skipped to the next comma, not taken for a scheme.
        assert.deepEqual(parseChallenge('Bearer realm="https://a/t"junk,service="s",scope="x"'), { scheme: "bearer", params: { realm: "https://a/t", service: "s", scope: "x" } });
        assert.deepEqual(parseChallenge("Bearer realm=https://a/t,service=s p,scope=x"), { scheme: "bearer", params: { realm: "https://a/t", service: "s", scope: "x" } });
    });

    it("uses only the first Basic or Bearer challenge when several are joined in one header", () => {
        assert.deepEqual(parseChallenge('Bearer realm="https://a/token",service="svc", Basic realm="Registry"'), {
            scheme: "bearer",
            params: { realm: "https://a/token", service: "svc" },
        });
        assert.deepEqual(parseChallenge('Negotiate, Basic realm="r"'), { scheme: "basic", params: { realm: "r" } });
        assert.deepEqual(parseChallenge('Basic realm="a, b", Bearer realm="https://t"'), { scheme: "basic", params: { realm: "a, b" } });
    });

    it("reads unquoted and escaped parameter values, and a scheme with no parameters", () => {
        assert.deepEqual(parseChallenge("Bearer realm=https://a/token,service=svc"), { scheme: "bearer", params: { realm: "https://a/token", service: "svc" } });
        assert.deepEqual(parseChallenge('Basic realm="say \\"hi\\""'), { scheme: "basic", params: { realm: 'say "hi"' } });
        assert.deepEqual(parseChallenge("Basic"), { scheme: "basic", params: {} });
        assert.deepEqual(parseChallenge("   "), { scheme: "", params: {} });
    });

    it("finds a challenge after runs of spaces, and by its scheme only (not a parameter that names one)", () => {
        assert.deepEqual(parseChallenge('Negotiate abc, Basic  realm="r"'), { scheme: "basic", params: { realm: "r" } });
        assert.deepEqual(parseChallenge('Negotiate realm="basic", Bearer realm="https://t"'), { scheme: "bearer", params: { realm: "https://t" } });
    });

    it("probes host[:port] only, over HTTPS unless written http://, and Docker Hub at registry-1.docker.io", () => {
        assert.equal(registryBase("registry.example.org:5000/team")?.href, "https://registry.example.org:5000/");
        assert.equal(registryBase("http://127.0.0.1:5000")?.href, "http://127.0.0.1:5000/");
        assert.equal(registryBase("  HTTP://Registry.Example.org:5000  ")?.href, "http://registry.example.org:5000/");
        assert.equal(registryBase("https://index.docker.io/v1/")?.href, "https://registry-1.docker.io/");
        assert.equal(registryBase("docker.io")?.href, "https://registry-1.docker.io/");
        assert.equal(registryBase("not a server"), undefined);
    });

    const unreachable = { cause: "unreachable (CODE)", fix: "check the host and port in tenants[1].registries[0].server, and that this machine can reach it" };
    const untrusted = { cause: "TLS problem (CODE)", fix: `add the CA certificate that signed the registry's certificate to caBundle: pulumi config set caBundle -- "$(cat ca.pem)"` };
    const plainHttp = { cause: "TLS problem (CODE)", fix: "if the registry serves plain HTTP, write tenants[1].registries[0].server as http://HOST:PORT" };
    const unexpected = {
        cause: "unexpected response (CODE)",
        fix: "check that tenants[1].registries[0].server is the address of a registry (Docker Registry HTTP API v2), with http:// only if it serves plain HTTP",
    };
    // Every code the probe sorts, and look-alikes it must not (EPROTONOSUPPORT is a socket errno).
    const causes: [string | undefined, { cause: string; fix: string }][] = [
        ...["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "ETIMEDOUT", "EPIPE"].map((c) => [c, unreachable] as [string, typeof unreachable]),
        ...["CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "ERR_TLS_CERT_ALTNAME_INVALID"].map((c) => [c, untrusted] as [string, typeof untrusted]),
        ["ERR_SSL_WRONG_VERSION_NUMBER", plainHttp],
        ["EPROTO", plainHttp],
        ["EPROTONOSUPPORT", unexpected],
        ["ECONNABORTED", unexpected],
        [undefined, { ...unexpected, cause: "unexpected response (request failed)" }],
    ];
    for (const [code, expected] of causes) {
        it(`reports a connection error ${code ?? "without a code"} by its code alone, whatever this machine's resolver and network would say`, async () => {
            const lookup = dns.lookup;
            const asked: string[] = [];
            dns.lookup = ((hostname: string, options: unknown, callback?: (err: Error) => void) => {
                asked.push(hostname);
                const done = (typeof options === "function" ? options : callback) as (err: Error) => void;
                process.nextTick(() => done(Object.assign(new Error(`lookup ${hostname}: Pa55-word-x9`), { code, hostname })));
            }) as typeof dns.lookup;
            try {
                const server = "http://registry.example.invalid:5000";
                const problems = await verifyCredentials([{ path: "tenants[1].registries[0]", server, username: "puller", password: "Pa55-word-x9" }]);
                assert.deepEqual(problems, [
                    { path: "tenants[1].registries[0]", message: `${server}: ${expected.cause.replace("CODE", code ?? "")}`, fix: expected.fix },
                ]);
                assert.deepEqual(asked, ["registry.example.invalid"]);
            } finally {
                dns.lookup = lookup;
            }
        });
    }
});
