import * as assert from "node:assert/strict";
import { defaultSecretName, ENCRYPTED_PLACEHOLDER, fromPulumiConfig, isDns1123Label, keyPath, parseKeyPath, serverKey, validateStackConfig } from "../components/config";
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
            selected: [],
            patchForce: false,
            onPatchDelete: "relinquish",
            protectNamespaces: false,
            verifyCredentials: false,
            restartStuckPods: false,
            imageIsolation: "warn",
        });
    });

    it("fills in the Container Service's ServiceAccount, and sets tokenRotation only when given", () => {
        const of = (containerService: Record<string, unknown>) =>
            validateStackConfig({ namespace: "xnat", registries: [reg()], containerService }).tenants[0].containerService;
        assert.deepStrictEqual(of({ apiServer: "https://10.0.0.1:6443" }), { serviceAccount: "xnat-container-service", apiServer: "https://10.0.0.1:6443" });
        assert.deepStrictEqual(of({ apiServer: "https://10.0.0.1:6443", serviceAccount: "xnat", tokenRotation: "2026-11" }), {
            serviceAccount: "xnat",
            apiServer: "https://10.0.0.1:6443",
            tokenRotation: "2026-11",
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
            assert.equal(p.message, "is required (or set namespaceSelector, or list tenants)");
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
            assert.equal(problemAt({ namespace: "x", registries: [reg({ password: 12.34 })] }, "registries[0].password").message, "must be a string, not a number");
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
            assert.equal(problemAt({ namespace: "x", registries: [reg({ email: 5.5 })] }, "registries[0].email").message, "must be a string, not a number");
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
            assert.match(problemAt({ namespace: "x", registries: [reg()], zzzzzzzz: 1 }, "zzzzzzzz").fix, /known keys: namespace, namespaceSelector, excludeNamespaces, createNamespace, labels, annotations, registries, /);
        });
        it("an unknown key lists the keys known where it is: tenant, registry, generatePassword, containerService", () => {
            const all = problems({
                sharedRegistries: [reg({ zzzzzzzz: 1 })],
                tenants: [
                    {
                        namespace: "a",
                        zzzzzzzz: 1,
                        registries: [{ server: "b.example.org", generatePassword: { length: 20, zzzzzzzz: 1 } }],
                        containerService: { apiServer: "https://10.0.0.1:6443", zzzzzzzz: 1 },
                    },
                ],
            });
            const fixes = Object.fromEntries(all.map((p) => [p.path, p.fix]));
            assert.deepEqual(fixes, {
                "sharedRegistries[0]": "quote a value holding a comma or a colon; known keys: server, username, password, generatePassword, email, secretName",
                "tenants[0].zzzzzzzz":
                    "remove it; known keys: namespace, namespaceSelector, excludeNamespaces, createNamespace, labels, annotations, registries, serviceAccounts, excludeServiceAccounts, keepPullSecrets, credentialRotation, containerService",
                "tenants[0].registries[0].generatePassword.zzzzzzzz": "remove it; known keys: length",
                "tenants[0].containerService.zzzzzzzz": "remove it; known keys: apiServer, serviceAccount, tokenRotation",
            });
        });
        it("a value of the wrong type is named by its type: null, a list, a map, a number", () => {
            const messages = [null, ["team"], { team: 1 }, 5.5].map((namespace) => problemAt({ namespace, registries: [reg()] }, "namespace").message);
            assert.deepEqual(messages, ["must be a string, not null", "must be a string, not a list", "must be a string, not a map", "must be a string, not a number"]);
        });
        it("a key within edit distance of a known one, scaled to its length, gets a did-you-mean", () => {
            const all = problems({ namespace: "x", nmspce: "x", registries: [reg({ eml: "a@b.c" })] });
            assert.deepEqual(
                all.map((p) => [p.path, p.fix]),
                [
                    ["registries[0].eml", "did you mean 'email'?"],
                    ["nmspce", "did you mean 'namespace'?"],
                ],
            );
        });
        it("a config that is not a map is one problem, and so is a list entry that is not a map", () => {
            assert.deepEqual(problems(null), [{ path: "", message: "must be a map of keys, not null", fix: "see the config reference in README.md" }]);
            assert.deepEqual(problems("namespace=x"), [{ path: "", message: "must be a map of keys, not a string", fix: "see the config reference in README.md" }]);
            const fix = "list registries: pulumi config set --path 'registries[0].username' <user>";
            assert.deepEqual(problems({ namespace: "x", registries: [null, "x", ["y"], ["z"], reg()] }), [
                { path: "registries[0]", message: "must be a map of keys, not null", fix },
                { path: "registries[1]", message: "must be a map of keys, not a string", fix },
                { path: "registries[2]", message: "must be a map of keys, not a list", fix },
                { path: "registries[3]", message: "must be a map of keys, not a list", fix },
            ]);
        });
        it("labels must be a map of keys", () => {
            assert.equal(problemAt({ namespace: "x", labels: "team=a", registries: [reg()] }, "labels").message, "must be a map of keys, not a string");
        });
        it("two entries without a server are both Docker Hub", () => {
            const p = problemAt({ namespace: "x", registries: [{ username: "a", password: "p" }, { username: "b", password: "q", secretName: "other" }] }, "registries[1].server");
            assert.equal(p.message, "is the same registry as registries[0].server");
        });
        it("an empty tenants list is a problem only when it is all there is", () => {
            assert.deepEqual(problems({ tenants: [] }), [
                { path: "tenants", message: "must not be an empty list", fix: "list tenants: pulumi config set --path 'tenants[0].namespace' <name>" },
            ]);
            assert.deepEqual(validateStackConfig({ namespace: "x", registries: [reg()], tenants: [] }).tenants.map((t) => t.namespace), ["x"]);
        });
        it("labels on an adopted namespace are a problem, createNamespace written as the string false too", () => {
            const p = problemAt({ namespace: "x", createNamespace: "false", labels: { team: "a" }, registries: [reg()] }, "labels");
            assert.equal(p.message, "only applies to a namespace this stack creates (createNamespace is false)");
        });
        it("a secure value read offline stands in for a password without being judged as one", () => {
            const config = validateStackConfig({ namespace: "x", registries: [{ server: "gcr.io", username: "_json_key", password: ENCRYPTED_PLACEHOLDER }] });
            assert.equal(config.tenants[0].registries[0].server, "gcr.io");
        });
        it("a second entry for the same server is one problem, and a secretName it repeats is a second", () => {
            const all = problems({ namespace: "x", registries: [reg(), reg(), reg({ secretName: "pull" }), reg({ secretName: "pull" })] });
            assert.deepEqual(all.map((p) => [p.path, p.message]), [
                ["registries[1].server", "is the same registry as registries[0].server"],
                ["registries[2].server", "is the same registry as registries[0].server"],
                ["registries[3].server", "is the same registry as registries[0].server"],
                ["registries[3].secretName", "'pull' is already the Secret name of registries[2]"],
            ]);
        });
        it("malformed servers and usernames are reported by their own rules, not as duplicates", () => {
            const generated = (server: unknown, username?: unknown) => ({ server, generatePassword: true, ...(username === undefined ? {} : { username }) });
            const all = problems({
                tenants: [
                    { namespace: "a", registries: [generated("not a server"), generated("bad server")] },
                    { namespace: "b", registries: [generated("r.example.org", 5.5)] },
                    { namespace: "c", registries: [generated("r.example.org", 5.5)] },
                ],
            });
            assert.deepEqual(all.map((p) => p.path).sort(), [
                "tenants[0].registries[0].server",
                "tenants[0].registries[1].server",
                "tenants[1].registries[0].username",
                "tenants[2].registries[0].username",
            ]);
        });
        it("a name listed twice is a problem; a value that is not a name is reported by type only", () => {
            const all = problems({ namespace: "x", registries: [reg()], serviceAccounts: ["ci", "ci", 5.5, 5.5], keepPullSecrets: [7.5, 7.5] });
            assert.deepEqual(all.map((p) => [p.path, p.message]), [
                ["serviceAccounts[2]", "must be a string, not a number"],
                ["serviceAccounts[3]", "must be a string, not a number"],
                ["keepPullSecrets[0]", "must be a string, not a number"],
                ["keepPullSecrets[1]", "must be a string, not a number"],
                ["serviceAccounts[1]", "'ci' is listed twice"],
            ]);
        });
        it("the Container Service's account must not be one the stack patches; a non-name is reported by type only", () => {
            const withAccount = (serviceAccount: unknown, serviceAccounts?: unknown[]) =>
                problems({ namespace: "x", registries: [reg()], ...(serviceAccounts ? { serviceAccounts } : {}), containerService: { apiServer: "https://10.0.0.1:6443", serviceAccount } });
            assert.deepEqual(withAccount("default").map((p) => p.message), [
                "'default' is the namespace's default ServiceAccount; the Container Service needs one of its own, which the stack creates",
            ]);
            assert.deepEqual(withAccount("ci", ["default", "ci"]).map((p) => p.message), [
                "'ci' is a ServiceAccount this stack patches with pull secrets; the Container Service needs one of its own, which the stack creates",
            ]);
            assert.deepEqual(withAccount(5.5, [5.5]).map((p) => [p.path, p.message]), [
                ["serviceAccounts[0]", "must be a string, not a number"],
                ["containerService.serviceAccount", "must be a string, not a number"],
            ]);
        });
        it("each key's fix says how to set it: verifyCredentials, containerService, tokenRotation", () => {
            const fixes = (raw: Record<string, unknown>) => Object.fromEntries(problems({ namespace: "x", registries: [reg()], ...raw }).map((p) => [p.path, p.fix]));
            assert.deepEqual(fixes({ verifyCredentials: "maybe", containerService: { apiServer: "https://10.0.0.1:6443", tokenRotation: "" } }), {
                verifyCredentials: "set true to check every credential against its registry before deploying",
                "containerService.tokenRotation": "set any string; change it to replace the Container Service's token",
            });
            assert.deepEqual(fixes({ containerService: "yes please" }), {
                containerService: "set the API server XNAT reaches: pulumi config set --path 'containerService.apiServer' https://<host>:<port>",
            });
        });
        it("label and annotation keys: a prefix of at most 253, a name of at most 63", () => {
            const good = { "a/b": "", "k8s.example.info/team": "x", "a.b/c": "y", [`p/${"n".repeat(63)}`]: "z", [`${"a".repeat(253)}/n`]: "w" };
            assert.deepEqual(validateStackConfig({ namespace: "x", registries: [reg()], labels: good }).tenants[0].labels, good);
            const bad = ["_team", `p/${"n".repeat(64)}`, `${"a".repeat(254)}/n`, "n".repeat(64)];
            const all = problems({ namespace: "x", registries: [reg()], annotations: Object.fromEntries(bad.map((k) => [k, "v"])) });
            assert.deepEqual(all.map((p) => p.message), bad.map(() => "is not a valid Kubernetes label or annotation key"));
        });
        it("generatePassword's length: a whole number, written as digits or not at all", () => {
            const length = (value: unknown) => problems({ namespace: "x", registries: [{ server: "r.example.org", generatePassword: { length: value } }] }).map((p) => p.message);
            assert.deepEqual([length("x40"), length("40x"), length(true)], [["must be a number, not a string"], ["must be a number, not a string"], ["must be a number, not a boolean"]]);
            const config = validateStackConfig({ namespace: "x", registries: [{ server: "r.example.org", generatePassword: { length: "40" } }] });
            assert.deepEqual(config.tenants[0].registries[0], { path: "registries[0]", server: "r.example.org", username: "x", secretName: "regcred-r-example-org", generatePassword: { length: 40 } });
        });
        it("containerService: true (or \"true\") asks for it, false (or \"false\") leaves it out", () => {
            for (const on of [true, "true"]) {
                assert.equal(problemAt({ namespace: "x", registries: [reg()], containerService: on }, "containerService.apiServer").message, "is required");
            }
            for (const off of [false, "false"]) {
                assert.equal(validateStackConfig({ namespace: "x", registries: [reg()], containerService: off }).tenants[0].containerService, undefined);
            }
        });
        it("containerService: an https URL without credentials, an account name that leaves room for the token Secret's name", () => {
            const cs = (containerService: Record<string, unknown>) => ({ namespace: "x", registries: [reg()], containerService: { apiServer: "https://10.0.0.1:6443", ...containerService } });
            for (const apiServer of ["https://admin@10.0.0.1:6443", "https://:secret@10.0.0.1:6443", "10.0.0.1:6443 "]) {
                assert.match(problemAt(cs({ apiServer }), "containerService.apiServer").message, /^is not an https:\/\/ URL with a host/);
            }
            assert.equal(validateStackConfig(cs({ serviceAccount: "a".repeat(238) })).tenants[0].containerService?.serviceAccount, "a".repeat(238));
            assert.equal(problemAt(cs({ serviceAccount: "a".repeat(239) }), "containerService.serviceAccount").message, "is not a DNS-1123 subdomain of at most 238 characters");
        });
        it("rotation keys take a string or a number, read as a string", () => {
            const config = validateStackConfig({ namespace: "x", registries: [reg()], credentialRotation: 2026, containerService: { apiServer: "https://10.0.0.1:6443", tokenRotation: 5 } });
            assert.equal(config.tenants[0].credentialRotation, "2026");
            assert.equal(config.tenants[0].containerService?.tokenRotation, "5");
            const all = problems({ namespace: "x", registries: [reg()], credentialRotation: {}, containerService: { apiServer: "https://10.0.0.1:6443", tokenRotation: {} } });
            assert.deepEqual(all.map((p) => [p.path, p.message]), [
                ["credentialRotation", "must be a string, not a map"],
                ["containerService.tokenRotation", "must be a string, not a map"],
            ]);
        });
        it("a fix names the registry entry it is about, shared or in a tenant", () => {
            const all = problems({
                sharedRegistries: [reg(), reg({ server: "b.example.org", password: null })],
                tenants: [{ namespace: "a", registries: [reg({ server: "c.example.org" }), reg({ server: "d.example.org", password: null })] }],
            });
            assert.deepEqual(
                all.filter((p) => p.path.endsWith("password")).map((p) => p.fix).sort(),
                [
                    "pulumi config set --secret --path 'sharedRegistries[1].password' <password>",
                    "pulumi config set --secret --path 'tenants[0].registries[1].password' <password>",
                ],
            );
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
            assert.equal((err as Error).name, "ConfigError"); // what a stack trace shows first
            assert.match(message, /^invalid stack config, 2 problems:\n {2}- registry-access:registries\[0\]\.username: .*\(fix: .*\)\n {2}- registry-access:registries\[0\]\.pasword: is not a known key \(fix: did you mean 'password'\?\)$/);
            assert.ok(!message.includes(secret));
        }
    });
});

describe("fromPulumiConfig", () => {
    it("parses JSON, keeps strings, ignores other namespaces; validation reads the strings true and false", () => {
        const raw = fromPulumiConfig({
            "registry-access:namespace": "xnat",
            "registry-access:createNamespace": "false",
            "registry-access:protectNamespaces": "true",
            "registry-access:registries": '[{"username":"u","password":"p"}]',
            "kubernetes:context": "kind",
        });
        assert.deepEqual(raw, { namespace: "xnat", createNamespace: "false", protectNamespaces: "true", registries: [{ username: "u", password: "p" }] });
        const config = validateStackConfig(raw);
        assert.equal(config.tenants[0].createNamespace, false);
        assert.equal(config.protectNamespaces, true);
    });
    it("reads JSON only for structured keys: a namespace written as a list is a bad name, not a list", () => {
        const raw = fromPulumiConfig({ "registry-access:namespace": '["team"]', "registry-access:registries": ' [{"username":"u","password":"p"}]' });
        assert.deepEqual(raw, { namespace: '["team"]', registries: [{ username: "u", password: "p" }] });
        assert.match(problemAt(raw, "namespace").message, /^is not a DNS-1123 label/);
    });
    it("keeps string keys as written, even when they look like JSON", () => {
        const raw = { "registry-access:onPatchDelete": '["retain"]', "registry-access:credentialRotation": "[2026]", "registry-access:caBundle": "[pem]", "registry-access:namespace": "{}" };
        assert.deepEqual(fromPulumiConfig(raw), { onPatchDelete: '["retain"]', credentialRotation: "[2026]", caBundle: "[pem]", namespace: "{}" });
    });
    it("sets each key as an ordinary own property, __proto__ included", () => {
        const raw = fromPulumiConfig({ "registry-access:__proto__": "x" });
        assert.deepEqual(Object.getOwnPropertyDescriptor(raw, "__proto__"), { value: "x", enumerable: true, writable: true, configurable: true });
        assert.equal(Object.getPrototypeOf(raw), Object.prototype);
    });
    it("leaves unparseable values as strings for validation to report", () => {
        const raw = fromPulumiConfig({ "registry-access:createNamespace": "yes", "registry-access:registries": "[oops" });
        assert.deepEqual(raw, { createNamespace: "yes", registries: "[oops" });
    });
});

describe("key paths", () => {
    it("read back what keyPath writes: indexes of any length, quoted keys", () => {
        const segments = ["tenants", 12, "registries", 3, "labels", "example.org/team"];
        assert.equal(keyPath(segments), 'tenants[12].registries[3].labels["example.org/team"]');
        assert.deepEqual(parseKeyPath(keyPath(segments)), segments);
        assert.deepEqual(parseKeyPath('annotations["a\\"b.c/d"]'), ["annotations", 'a"b.c/d']);
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
