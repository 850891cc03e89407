/** The credential probe's parsing, without a network (real registries: test/cluster/). */
import * as assert from "node:assert/strict";
import { parseChallenge, registryBase } from "../components/verifyCredentials";

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
});
