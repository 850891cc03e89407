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

    it("uses only the first Basic or Bearer challenge when several are joined in one header", () => {
        assert.deepEqual(parseChallenge('Bearer realm="https://a/token",service="svc", Basic realm="Registry"'), {
            scheme: "bearer",
            params: { realm: "https://a/token", service: "svc" },
        });
        assert.deepEqual(parseChallenge('Negotiate, Basic realm="r"'), { scheme: "basic", params: { realm: "r" } });
        assert.deepEqual(parseChallenge('Basic realm="a, b", Bearer realm="https://t"'), { scheme: "basic", params: { realm: "a, b" } });
    });

    it("probes host[:port] only, over HTTPS unless written http://, and Docker Hub at registry-1.docker.io", () => {
        assert.equal(registryBase("registry.example.org:5000/team")?.href, "https://registry.example.org:5000/");
        assert.equal(registryBase("http://127.0.0.1:5000")?.href, "http://127.0.0.1:5000/");
        assert.equal(registryBase("https://index.docker.io/v1/")?.href, "https://registry-1.docker.io/");
        assert.equal(registryBase("docker.io")?.href, "https://registry-1.docker.io/");
        assert.equal(registryBase("not a server"), undefined);
    });

    for (const code of ["ENOTFOUND", "EAI_AGAIN"]) {
        it(`reports a name that does not resolve (${code}) as unreachable, whatever this machine's resolver would say`, async () => {
            const lookup = dns.lookup;
            const asked: string[] = [];
            dns.lookup = ((hostname: string, options: unknown, callback?: (err: Error) => void) => {
                asked.push(hostname);
                const done = (typeof options === "function" ? options : callback) as (err: Error) => void;
                process.nextTick(() => done(Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, hostname })));
            }) as typeof dns.lookup;
            try {
                const server = "http://registry.example.invalid:5000";
                const problems = await verifyCredentials([{ path: "tenants[1].registries[0]", server, username: "puller", password: "Pa55-word-x9" }]);
                assert.deepEqual(problems, [
                    {
                        path: "tenants[1].registries[0]",
                        message: `${server}: unreachable (${code})`,
                        fix: "check the host and port in tenants[1].registries[0].server, and that this machine can reach it",
                    },
                ]);
                assert.deepEqual(asked, ["registry.example.invalid"]);
            } finally {
                dns.lookup = lookup;
            }
        });
    }
});
