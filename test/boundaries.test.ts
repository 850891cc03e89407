/**
 * Limits and edge cases a change could move by one without other tests noticing: the 63-character
 * limits, the trim of a default Secret name's dashes, and lone surrogates in the docker config.
 */
import * as assert from "node:assert/strict";
import { defaultSecretName, isDns1123Label, isDns1123Subdomain, serverKey, validateStackConfig } from "../components/config";
import { basicAuth, dockerConfigJson } from "../components/dockerConfig";
import { kubectlDockerConfig } from "./support/kubectl";
import { problemsFinder } from "./support/problems";

const { problemAt } = problemsFinder("Boundary-Pa55word");
const registries = [{ server: "registry.example.org", username: "puller", password: "Boundary-Pa55word" }];

describe("limits and edge cases", () => {
    it("takes a label value of 63 characters and refuses one of 64", () => {
        const at63 = validateStackConfig({ namespace: "team", labels: { tier: "v".repeat(63) }, registries });
        assert.equal(at63.tenants[0].labels.tier, "v".repeat(63));
        const p = problemAt({ namespace: "team", labels: { tier: "v".repeat(64) }, registries }, "labels.tier");
        assert.equal(p.message, "is not a valid label value");
    });

    it("takes a namespace of 63 characters and refuses one of 64", () => {
        assert.equal(isDns1123Label("n".repeat(63)), true);
        assert.equal(isDns1123Label("n".repeat(64)), false);
        assert.equal(validateStackConfig({ namespace: "n".repeat(63), registries }).tenants[0].namespace, "n".repeat(63));
    });

    it("tells DNS-1123 subdomains from what only starts like one", () => {
        for (const ok of ["a", "a.b", "kept.vendor-pull", "a-1.b-2.c"]) {
            assert.equal(isDns1123Subdomain(ok), true, ok);
        }
        for (const bad of ["abc_", "a.b_", "a..b", "a.-b", "a.b-", ".a", "A.b"]) {
            assert.equal(isDns1123Subdomain(bad), false, bad);
        }
    });

    it("names a Secret for a malformed server from its lower-cased text", () => {
        assert.equal(defaultSecretName("Bad Server!"), "regcred-bad-server");
    });

    it("joins a run of other characters in a default Secret name into one dash", () => {
        assert.equal(defaultSecretName("registry.example.org/a._-b"), "regcred-registry-example-org-a-b");
    });

    it("takes ports 1 to 65535 and nothing outside", () => {
        assert.equal(serverKey("reg.example.org:1"), "reg.example.org:1");
        assert.equal(serverKey("reg.example.org:65535"), "reg.example.org:65535");
        assert.equal(serverKey("reg.example.org:0"), undefined);
        assert.equal(serverKey("reg.example.org:65536"), undefined);
    });

    it("takes a Secret name of 253 characters and refuses one of 254", () => {
        const name = (n: number) => `${"s".repeat(n - 2)}.s`;
        assert.equal(isDns1123Subdomain(name(253)), true);
        assert.equal(isDns1123Subdomain(name(254)), false);
    });

    it("trims dashes from a default Secret name's ends, so a path ending in '_' still names a valid Secret", () => {
        for (const [server, name] of [
            ["registry.example.org/team_", "regcred-registry-example-org-team"],
            ["registry.example.org/team_/", "regcred-registry-example-org-team"],
            ["registry.example.org/_team", "regcred-registry-example-org-team"],
            ["registry.example.org/team.-_", "regcred-registry-example-org-team"],
        ]) {
            assert.equal(defaultSecretName(server), name, server);
            assert.ok(isDns1123Subdomain(name));
        }
        const config = validateStackConfig({ namespace: "team", registries: [{ ...registries[0], server: "registry.example.org/team_" }] });
        assert.equal(config.tenants[0].registries[0].secretName, "regcred-registry-example-org-team");
    });

    it("cuts a long default name where the cut leaves no trailing dash, and names it by a hash", () => {
        // The first 54 characters end in '-': the cut must not leave '--' before the hash.
        const server = `r.example.org/${"a".repeat(31)}/${"b".repeat(40)}`;
        const name = defaultSecretName(server);
        assert.match(name, /^regcred-r-example-org-a{31}-[0-9a-f]{8}$/);
        assert.ok(name.length <= 63 && isDns1123Label(name), name);
    });

    it("writes a lone surrogate as Go does (U+FFFD), byte for byte as kubectl", async () => {
        const cred = { server: "registry.example.org", username: "u\uD800", password: "a\uDC00b\uD83D" };
        const expected = await kubectlDockerConfig(cred);
        assert.equal(Buffer.from(dockerConfigJson(cred), "utf8").toString("hex"), expected.toString("hex"));
        assert.ok(dockerConfigJson(cred).includes('"password":"a\uFFFDb\uFFFD"'));
        assert.equal(basicAuth(cred.username, cred.password), Buffer.from("u\uFFFD:a\uFFFDb\uFFFD").toString("base64"));
    });
});
