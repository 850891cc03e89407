import * as assert from "node:assert/strict";
import { validateStackConfig } from "../components/config";
import { problemsFinder } from "./support/problems";

const PASSWORD = "t3nant-Secret:<pw>&";
const reg = (extra: Record<string, unknown> = {}) => ({ server: "registry.example.org", username: "puller", password: PASSWORD, ...extra });
const shared = { server: "shared.example.org", username: "all", password: PASSWORD };

const { problems, problemAt } = problemsFinder(PASSWORD);

describe("tenants config", () => {
    it("gives every tenant the shared registries first, then its own", () => {
        const config = validateStackConfig({
            sharedRegistries: [shared],
            tenants: [{ namespace: "team-a" }, { namespace: "team-b", registries: [reg()] }],
        });
        assert.deepEqual(
            config.tenants.map((t) => [t.path, t.namespace, t.registries.map((r) => `${r.path} ${r.secretName}`)]),
            [
                ["tenants[0]", "team-a", ["sharedRegistries[0] regcred-shared-example-org"]],
                ["tenants[1]", "team-b", ["sharedRegistries[0] regcred-shared-example-org", "tenants[1].registries[0] regcred-registry-example-org"]],
            ],
        );
    });

    it("keeps the top-level namespace as the first tenant next to tenants[]", () => {
        const config = validateStackConfig({ namespace: "main", registries: [reg()], tenants: [{ namespace: "extra", registries: [reg()] }] });
        assert.deepEqual(config.tenants.map((t) => [t.path, t.namespace]), [["", "main"], ["tenants[0]", "extra"]]);
    });

    it("reads every per-tenant key", () => {
        const [t] = validateStackConfig({
            tenants: [
                {
                    namespace: "team-a",
                    labels: { "example.org/team": "a", tier: "batch" },
                    annotations: { "example.org/owner": "Team A <a@example.org>" },
                    registries: [reg()],
                    serviceAccounts: ["default", "xnat"],
                    keepPullSecrets: ["vendor-pull"],
                    credentialRotation: 3,
                },
            ],
        }).tenants;
        assert.deepEqual(t.labels, { "example.org/team": "a", tier: "batch" });
        assert.deepEqual(t.annotations, { "example.org/owner": "Team A <a@example.org>" });
        assert.deepEqual(t.serviceAccounts, ["default", "xnat"]);
        assert.deepEqual(t.keepPullSecrets, ["vendor-pull"]);
        assert.equal(t.credentialRotation, "3");
    });

    it("reads the stack-wide keys", () => {
        const config = validateStackConfig({
            namespace: "x",
            registries: [reg()],
            patchForce: true,
            onPatchDelete: "retain",
            protectNamespaces: true,
            verifyCredentials: true,
            caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        });
        assert.equal(config.patchForce, true);
        assert.equal(config.onPatchDelete, "retain");
        assert.equal(config.protectNamespaces, true);
        assert.equal(config.verifyCredentials, true);
        assert.match(config.caBundle ?? "", /BEGIN CERTIFICATE/);
    });

    it("accepts booleans and numbers spelled as strings, as pulumi config set writes them", () => {
        const config = validateStackConfig({
            patchForce: "true",
            protectNamespaces: "false",
            tenants: [{ namespace: "a", createNamespace: "false", registries: [{ server: "r.example.org", username: "u", generatePassword: { length: "40" } }] }],
        });
        assert.equal(config.patchForce, true);
        assert.equal(config.protectNamespaces, false);
        assert.equal(config.tenants[0].createNamespace, false);
        assert.deepEqual((config.tenants[0].registries[0] as { generatePassword: unknown }).generatePassword, { length: 40 });
        assert.equal(problemAt({ namespace: "a", createNamespace: "no", registries: [reg()] }, "createNamespace").message, "must be a boolean, not a string");
    });

    describe("generated credentials", () => {
        it("defaults to 32 characters and the tenant's namespace as username", () => {
            const [a, b] = validateStackConfig({
                sharedRegistries: [{ server: "registry.example.org", generatePassword: true }],
                tenants: [{ namespace: "team-a" }, { namespace: "team-b", registries: [{ server: "own.example.org", username: "b-bot", generatePassword: { length: 48 } }] }],
            }).tenants;
            assert.deepEqual(a.registries[0], {
                path: "sharedRegistries[0]",
                server: "registry.example.org",
                username: "team-a",
                secretName: "regcred-registry-example-org",
                generatePassword: { length: 32 },
            });
            assert.equal(b.registries[0].username, "team-b");
            assert.deepEqual(b.registries[1], {
                path: "tenants[1].registries[0]",
                server: "own.example.org",
                username: "b-bot",
                secretName: "regcred-own-example-org",
                generatePassword: { length: 48 },
            });
        });
        it("rejects a length bcrypt cannot hash whole, or too short", () => {
            assert.equal(problemAt({ namespace: "x", registries: [{ username: "u", generatePassword: { length: 100 } }] }, "registries[0].generatePassword.length").message, "must be at most 72");
            assert.equal(problemAt({ namespace: "x", registries: [{ username: "u", generatePassword: { length: 8 } }] }, "registries[0].generatePassword.length").message, "must be at least 16");
            assert.match(problemAt({ namespace: "x", registries: [{ username: "u", generatePassword: { length: 20.5 } }] }, "registries[0].generatePassword.length").fix, /whole number/);
        });
        it("accepts generatePassword: false as no generated password", () => {
            const [t] = validateStackConfig({ namespace: "a", registries: [reg({ generatePassword: false })] }).tenants;
            assert.equal((t.registries[0] as { password: string }).password, PASSWORD);
            // Nor does "false" count as generated for the per-registry username rule.
            const entry = { server: "r.example.org", username: "bot", password: PASSWORD, generatePassword: "false" };
            assert.doesNotThrow(() => validateStackConfig({ tenants: [{ namespace: "a", registries: [entry] }, { namespace: "b", registries: [entry] }] }));
        });
        it("rejects two generated credentials with one username on one registry", () => {
            const p = problemAt(
                {
                    tenants: [
                        { namespace: "a", registries: [{ server: "r.example.org", username: "bot", generatePassword: true }] },
                        { namespace: "b", registries: [{ server: "https://R.example.org/", username: "bot", generatePassword: true }] },
                    ],
                },
                "tenants[1].registries[0].username",
            );
            assert.equal(p.message, "'bot' already has a generated password on this registry (tenants[0].registries[0])");
        });
        it("rejects a password and generatePassword together", () => {
            assert.equal(problemAt({ namespace: "x", registries: [reg({ generatePassword: true })] }, "registries[0].generatePassword").message, "is set together with password");
        });
        it("rejects a fixed username on a shared generated registry", () => {
            assert.match(
                problemAt({ sharedRegistries: [{ server: "r.example.org", username: "same", generatePassword: true }], tenants: [{ namespace: "a" }] }, "sharedRegistries[0].username").message,
                /same username/,
            );
        });
        it("rejects an empty credentialRotation", () => {
            assert.equal(problemAt({ tenants: [{ namespace: "a", registries: [reg()], credentialRotation: "" }] }, "tenants[0].credentialRotation").message, "must not be empty");
        });
    });

    describe("rules", () => {
        it("a tenant needs a namespace, a DNS-1123 label", () => {
            assert.equal(problemAt({ tenants: [{ registries: [reg()] }] }, "tenants[0].namespace").message, "is required (or set namespaceSelector)");
            const p = problemAt({ tenants: [{ namespace: "Team_A", registries: [reg()] }] }, "tenants[0].namespace");
            assert.match(p.message, /DNS-1123 label/);
            assert.match(p.fix, /--path 'tenants\[0\]\.namespace'/);
        });
        it("namespaces are unique across the stack", () => {
            assert.match(problemAt({ namespace: "a", registries: [reg()], tenants: [{ namespace: "a", registries: [reg()] }] }, "tenants[0].namespace").message, /already the namespace of the top level/);
        });
        it("a tenant needs at least one registry, own or shared", () => {
            const p = problemAt({ tenants: [{ namespace: "a" }] }, "tenants[0].registries");
            assert.equal(p.message, "is required (or set sharedRegistries)");
            assert.match(p.fix, /tenants\[0\]\.registries\[0\]\.username/);
        });
        it("tenants must not be an empty list", () => {
            assert.equal(problemAt({ tenants: [] }, "tenants").message, "must not be an empty list");
        });
        it("top-level tenant keys need the top-level namespace", () => {
            assert.match(problemAt({ tenants: [{ namespace: "a", registries: [reg()] }], serviceAccounts: ["x"] }, "serviceAccounts").message, /top-level namespace, which is not set/);
        });
        it("a shared registry and a tenant's own must not be the same server", () => {
            assert.match(problemAt({ sharedRegistries: [shared], tenants: [{ namespace: "a", registries: [{ ...shared }] }] }, "tenants[0].registries[0].server").message, /same registry as sharedRegistries\[0\]\.server \(in tenants\[0\]\)/);
        });
        it("serviceAccounts: names, not empty, no repeats", () => {
            assert.match(problemAt({ namespace: "a", registries: [reg()], serviceAccounts: ["Bad_SA"] }, "serviceAccounts[0]").message, /DNS-1123 subdomain/);
            assert.equal(problemAt({ namespace: "a", registries: [reg()], serviceAccounts: [] }, "serviceAccounts").message, "must not be an empty list");
            assert.match(problemAt({ namespace: "a", registries: [reg()], serviceAccounts: ["x", "x"] }, "serviceAccounts[1]").message, /listed twice/);
        });
        it("keepPullSecrets: other tools' Secrets only", () => {
            assert.match(problemAt({ namespace: "a", registries: [reg()], keepPullSecrets: ["regcred-registry-example-org"] }, "keepPullSecrets[0]").message, /a Secret this stack manages/);
            assert.match(problemAt({ namespace: "a", registries: [reg()], keepPullSecrets: "vendor" }, "keepPullSecrets").message, /must be a list/);
        });
        it("labels and annotations: valid keys and values, only on a created namespace", () => {
            assert.match(problemAt({ namespace: "a", registries: [reg()], labels: { "bad key!": "x" } }, 'labels["bad key!"]').message, /not a valid Kubernetes label or annotation key/);
            assert.match(problemAt({ namespace: "a", registries: [reg()], labels: { team: "not valid!" } }, "labels.team").message, /not a valid label value/);
            assert.match(problemAt({ namespace: "a", registries: [reg()], annotations: { note: 5.5 } }, "annotations.note").message, /must be a string/);
            assert.match(problemAt({ namespace: "a", createNamespace: false, registries: [reg()], labels: { team: "a" } }, "labels").message, /only applies to a namespace this stack creates/);
        });
        it("stack-wide keys have types", () => {
            const all = problems({ namespace: "a", registries: [reg()], patchForce: "yes", onPatchDelete: "orphan", protectNamespaces: 1, verifyCredentials: "on", caBundle: "not pem" });
            assert.deepEqual(
                Object.fromEntries(all.map((p) => [p.path, p.message])),
                {
                    patchForce: "must be a boolean, not a string",
                    onPatchDelete: "must be relinquish or retain",
                    protectNamespaces: "must be a boolean, not a number",
                    verifyCredentials: "must be a boolean, not a string",
                    caBundle: "is not PEM (no BEGIN CERTIFICATE line)",
                },
            );
        });
    });

    describe("cloud registries' username conventions", () => {
        it("ECR wants AWS", () => {
            const p = problemAt({ namespace: "a", registries: [reg({ server: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", username: "admin" })] }, "registries[0].username");
            assert.equal(p.message, "must be AWS for Amazon ECR");
            assert.match(p.fix, /12 hours/);
        });
        it("Artifact Registry and GCR want _json_key (with a key file) or oauth2accesstoken", () => {
            assert.match(problemAt({ namespace: "a", registries: [reg({ server: "europe-docker.pkg.dev/proj/repo", username: "me" })] }, "registries[0].username").message, /_json_key/);
            const p = problemAt({ namespace: "a", registries: [reg({ server: "gcr.io", username: "_json_key" })] }, "registries[0].password");
            assert.match(p.message, /not a service account JSON key/);
            assert.match(p.fix, /--path "registries\[0\]\.password"/);
            const key = JSON.stringify({ type: "service_account", private_key: "-----BEGIN PRIVATE KEY-----" });
            assert.doesNotThrow(() => validateStackConfig({ namespace: "a", registries: [{ server: "eu.gcr.io", username: "_json_key", password: key }] }));
        });
        it("ACR wants a service principal id or the admin user", () => {
            assert.match(problemAt({ namespace: "a", registries: [reg({ server: "myreg.azurecr.io", username: "someone@example.org" })] }, "registries[0].username").message, /service principal's client id/);
            assert.doesNotThrow(() => validateStackConfig({ namespace: "a", registries: [reg({ server: "myreg.azurecr.io", username: "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b" })] }));
            assert.doesNotThrow(() => validateStackConfig({ namespace: "a", registries: [reg({ server: "myreg.azurecr.io", username: "myreg" })] }));
        });
        it("cloud registries cannot take generated passwords", () => {
            assert.match(problemAt({ namespace: "a", registries: [{ server: "123456789012.dkr.ecr.us-east-1.amazonaws.com", generatePassword: true }] }, "registries[0].generatePassword").message, /cloud issues the credential/);
        });
    });

    it("reports every problem of a multi-tenant stack at once", () => {
        const all = problems({
            sharedRegistries: [{ server: "shared.example.org", username: "x:y", password: PASSWORD }],
            tenants: [
                { namespace: "ok", registries: [reg({ server: "bad server" })] },
                { namespace: "ok", serviceAccounts: [], registries: [{ username: "u" }] },
                { namespace: "c", createNamespace: false, labels: { a: "b" }, registries: [reg({ generatePassword: true })], unknown: 1 },
            ],
            onPatchDelete: "keep",
        });
        assert.deepEqual(
            all.map((p) => p.path).sort(),
            [
                "onPatchDelete",
                "sharedRegistries[0].username",
                "tenants[0].registries[0].server",
                "tenants[1].namespace",
                "tenants[1].registries[0].password",
                "tenants[1].serviceAccounts",
                "tenants[2].labels",
                "tenants[2].registries[0].generatePassword",
                "tenants[2].unknown",
            ].sort(),
        );
    });
});
