import * as assert from "node:assert/strict";
import { defaultSecretName, fromPulumiConfig, isDns1123Label, serverKey, validateStackConfig } from "../components/config";
import { DOCKER_HUB_SERVER } from "../components/dockerConfig";
import { problemsFinder } from "./support/problems";

const PASSWORD = "Sup3r-Secret:<pw>";
const reg = (extra: Record<string, unknown> = {}) => ({ server: "registry.example.org", username: "puller", password: PASSWORD, ...extra });

const { problems, problemAt } = problemsFinder(PASSWORD);

describe("validateStackConfig", () => {
    it("accepts a minimal config and fills in the defaults", () => {
        const config = validateStackConfig({ namespace: "xnat", registries: [{ username: "u", password: "p" }] });
        assert.deepEqual(config, {
            tenants: [
                {
                    path: "",
                    namespace: "xnat",
                    createNamespace: true,
                    labels: {},
                    annotations: {},
                    registries: [
                        { path: "registries[0]", server: DOCKER_HUB_SERVER, username: "u", password: "p", secretName: "regcred-index-docker-io-v1" },
                    ],
                    serviceAccounts: ["default"],
                    keepPullSecrets: [],
                },
            ],
            patchForce: false,
            onPatchDelete: "relinquish",
            protectNamespaces: false,
            verifyCredentials: false,
        });
    });

    it("keeps server, email and secretName as given", () => {
        const config = validateStackConfig({
            namespace: "xnat",
            createNamespace: false,
            registries: [reg({ server: "https://Reg.Example.org:5000/team/", email: "a@b.c", secretName: "my.pull-secret" })],
        });
        assert.equal(config.tenants[0].createNamespace, false);
        assert.deepEqual(config.tenants[0].registries[0], {
            path: "registries[0]",
            server: "https://Reg.Example.org:5000/team/",
            username: "puller",
            password: PASSWORD,
            email: "a@b.c",
            secretName: "my.pull-secret",
        });
    });

    describe("rules, each with its key path and fix", () => {
        it("namespace is required", () => {
            const p = problemAt({ registries: [reg()] }, "namespace");
            assert.equal(p.message, "is required (or list tenants)");
            assert.match(p.fix, /pulumi config set --path 'namespace' <name>/);
        });
        it("namespace must not be empty", () => {
            assert.equal(problemAt({ namespace: "", registries: [reg()] }, "namespace").message, "must not be empty");
        });
        for (const bad of ["Xnat", "xnat_jobs", "-xnat", "xnat-", "a".repeat(64), "xnat.jobs"]) {
            it(`namespace must be a DNS-1123 label: ${JSON.stringify(bad.slice(0, 12))}`, () => {
                assert.match(problemAt({ namespace: bad, registries: [reg()] }, "namespace").message, /DNS-1123 label/);
            });
        }
        it("createNamespace must be a boolean", () => {
            const p = problemAt({ namespace: "x", createNamespace: "yes", registries: [reg()] }, "createNamespace");
            assert.equal(p.message, "must be a boolean, not a string");
            assert.match(p.fix, /true .* false/);
        });
        it("registries is required", () => {
            assert.equal(problemAt({ namespace: "x" }, "registries").message, "is required (or set sharedRegistries)");
        });
        it("registries must be a list, not a string", () => {
            const p = problemAt({ namespace: "x", registries: "registry.example.org" }, "registries");
            assert.equal(p.message, "must be a list, not a string");
            assert.match(p.fix, /registries\[0\]/);
        });
        it("registries must not be empty", () => {
            assert.match(problemAt({ namespace: "x", registries: [] }, "registries").message, /must list at least one registry/);
        });
        it("each registry must be an object", () => {
            assert.equal(problemAt({ namespace: "x", registries: ["reg"] }, "registries[0]").message, "must be a map of keys, not a string");
        });
        it("username is required and not empty", () => {
            assert.equal(problemAt({ namespace: "x", registries: [{ password: PASSWORD }] }, "registries[0].username").message, "is required");
            const p = problemAt({ namespace: "x", registries: [reg(), reg({ server: "b.org", username: "" })] }, "registries[1].username");
            assert.equal(p.message, "must not be empty");
            assert.match(p.fix, /registries\[1\]\.username/);
        });
        it("username must not contain ':'", () => {
            const p = problemAt({ namespace: "x", registries: [reg({ username: "team:bot" })] }, "registries[0].username");
            assert.match(p.message, /must not contain ':' \(the kubelet splits/);
        });
        it("password is required, not empty, a string, and shown how to set as a secret", () => {
            const missing = problemAt({ namespace: "x", registries: [{ username: "u" }] }, "registries[0].password");
            assert.equal(missing.message, "is required (or set generatePassword: true)");
            assert.equal(missing.fix, "pulumi config set --secret --path 'registries[0].password' <password>");
            assert.equal(problemAt({ namespace: "x", registries: [reg({ password: "" })] }, "registries[0].password").message, "must not be empty");
            assert.equal(problemAt({ namespace: "x", registries: [reg({ password: 1234 })] }, "registries[0].password").message, "must be a string, not a number");
        });
        for (const bad of ["registry example.org", "ftp://reg.example.org", "https://user@reg.example.org", "reg.example.org:99999", "reg.example.org/a?b", "", "https://"]) {
            it(`server must be host[:port][/path] or a URL: ${JSON.stringify(bad)}`, () => {
                const p = problemAt({ namespace: "x", registries: [reg({ server: bad })] }, "registries[0].server");
                assert.match(p.message, /not a host\[:port\]\[\/path\] or http\(s\):\/\/ URL/);
                assert.match(p.fix, /registry\.example\.org:5000/);
            });
        }
        it("secretName must be a DNS-1123 subdomain", () => {
            assert.match(problemAt({ namespace: "x", registries: [reg({ secretName: "Reg_Cred" })] }, "registries[0].secretName").message, /DNS-1123 subdomain/);
        });
        it("email must be a string", () => {
            assert.equal(problemAt({ namespace: "x", registries: [reg({ email: 5 })] }, "registries[0].email").message, "must be a string, not a number");
        });
        it("duplicate servers are reported on the later entry", () => {
            const p = problemAt({ namespace: "x", registries: [reg(), reg({ server: "https://REGISTRY.example.org/" })] }, "registries[1].server");
            assert.equal(p.message, "is the same registry as registries[0].server");
        });
        it("duplicate secret names, given or defaulted, are reported", () => {
            const p = problemAt(
                { namespace: "x", registries: [reg(), reg({ server: "other.example.org", secretName: "regcred-registry-example-org" })] },
                "registries[1].secretName",
            );
            assert.match(p.message, /already the Secret name of registries\[0\]/);
        });
        it("unknown keys get a did-you-mean, top level and per registry", () => {
            const all = problems({ namespace: "x", createNamspace: false, registries: [{ ...reg(), pasword: PASSWORD, usernme: "u" }] });
            const top = all.find((p) => p.path === "createNamspace");
            assert.equal(top?.fix, "did you mean 'createNamespace'?");
            assert.equal(all.find((p) => p.path === "registries[0].pasword")?.fix, "did you mean 'password'?");
            assert.match(all.find((p) => p.path === "registries[0].usernme")?.fix ?? "", /did you mean 'username'\?/);
        });
        it("an unknown key far from any known one lists the known keys", () => {
            assert.match(problemAt({ namespace: "x", registries: [reg()], zzzzzzzz: 1 }, "zzzzzzzz").fix, /known keys: namespace, createNamespace, labels, annotations, registries, /);
        });
    });

    it("reports every problem at once", () => {
        const all = problems({
            namespace: "Bad_NS",
            createNamespace: "maybe",
            registries: [reg({ username: "a:b" }), reg({ server: "not a server", password: "" }), reg()],
            extra: true,
        });
        assert.deepEqual(
            all.map((p) => p.path).sort(),
            [
                "createNamespace",
                "extra",
                "namespace",
                "registries[0].username",
                "registries[1].password",
                "registries[1].server",
                "registries[2].server",
            ].sort(),
        );
    });

    it("formats every problem on its own line with the project prefix, never a value", () => {
        const secret = "pa55<word>";
        try {
            validateStackConfig({ namespace: "x", registries: [{ username: "u:x", password: secret, pasword: secret }] });
            assert.fail("accepted");
        } catch (err) {
            const message = (err as Error).message;
            assert.match(message, /^invalid stack config, 2 problems:\n {2}- registry-access:registries\[0\]\.username: .*\(fix: .*\)\n {2}- registry-access:registries\[0\]\.pasword: is not a known key \(fix: did you mean 'password'\?\)$/);
            assert.ok(!message.includes(secret));
        }
    });
});

describe("fromPulumiConfig", () => {
    it("parses booleans and JSON, keeps strings, ignores other namespaces", () => {
        assert.deepEqual(
            fromPulumiConfig({
                "registry-access:namespace": "xnat",
                "registry-access:createNamespace": "false",
                "registry-access:registries": '[{"username":"u","password":"p"}]',
                "kubernetes:context": "kind",
            }),
            { namespace: "xnat", createNamespace: false, registries: [{ username: "u", password: "p" }] },
        );
    });
    it("leaves unparseable values as strings for validation to report", () => {
        const raw = fromPulumiConfig({ "registry-access:createNamespace": "yes", "registry-access:registries": "[oops" });
        assert.deepEqual(raw, { createNamespace: "yes", registries: "[oops" });
    });
});

describe("names and servers", () => {
    it("derives documented default secret names", () => {
        assert.equal(defaultSecretName(DOCKER_HUB_SERVER), "regcred-index-docker-io-v1");
        assert.equal(defaultSecretName("Registry.Example.org:5000"), "regcred-registry-example-org-5000");
        assert.equal(defaultSecretName("https://europe-docker.pkg.dev/my-proj/"), "regcred-europe-docker-pkg-dev-my-proj");
        // Upper case in a path is the same repository, not a run of dashes.
        assert.equal(defaultSecretName("ghcr.io/MyOrg"), "regcred-ghcr-io-myorg");
    });
    it("keeps long default names within 63 characters and unique", () => {
        const a = defaultSecretName(`reg.example.org/${"a".repeat(80)}`);
        const b = defaultSecretName(`reg.example.org/${"a".repeat(81)}`);
        assert.ok(a.length <= 63 && b.length <= 63 && isDns1123Label(a) && isDns1123Label(b));
        assert.notEqual(a, b);
    });
    it("identifies a server regardless of scheme, case and trailing slash", () => {
        assert.equal(serverKey("https://Reg.Example.org:443/v2/"), serverKey("reg.example.org:443/v2"));
        assert.equal(serverKey("[::1]:5000"), "[::1]:5000");
        assert.equal(serverKey("10.0.0.1:5000"), "10.0.0.1:5000");
        assert.equal(serverKey("reg.example.org:0"), undefined);
    });
});
