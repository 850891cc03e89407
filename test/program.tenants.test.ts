import * as assert from "node:assert/strict";
import { compareSync } from "bcryptjs";
import { kubectlDockerConfig } from "./support/kubectl";
import { ofType, runProgram, type RunResult } from "./support/runProgram";
import { isSecretWrapper, leakForms, plaintextStrings, unwrapSecrets } from "./support/secrets";

const NAMESPACE = "kubernetes:core/v1:Namespace";
const SECRET = "kubernetes:core/v1:Secret";
const PATCH = "kubernetes:core/v1:ServiceAccountPatch";
const RANDOM = "random:index/randomPassword:RandomPassword";

const SHARED_PASSWORD = "shared-Pa55:<&>";
const stack = (rotationA = "1", extraTenant = false) => ({
    sharedRegistries: [
        { server: "registry.example.org", username: "platform", password: SHARED_PASSWORD },
        { server: "tenants.example.org:5000", generatePassword: { length: 40 } },
    ],
    tenants: [
        {
            namespace: "team-a",
            labels: { "example.org/team": "a" },
            annotations: { "example.org/owner": "a@example.org" },
            serviceAccounts: ["default", "xnat"],
            keepPullSecrets: ["vendor-pull"],
            credentialRotation: rotationA,
        },
        { namespace: "team-b", registries: [{ server: "ghcr.io", username: "b-bot", password: "ghp_secretB" }] },
        { namespace: "team-c", createNamespace: false },
        ...(extraTenant ? [{ namespace: "team-d" }] : []),
    ],
    protectNamespaces: true,
    patchForce: true,
    onPatchDelete: "retain",
});

const inputsOf = (r: RunResult, type: string) => Object.fromEntries(ofType(r, type).map((x) => [x.name, x.inputs]));
const generated = (r: RunResult) =>
    unwrapSecrets(r.outputs.generatedCredentials) as Record<string, Record<string, { server: string; username: string; password: string; htpasswd: string }>>;

describe("program with tenants (mocks)", function () {
    this.timeout(60000);
    let base: RunResult;
    let rotated: RunResult;
    let grown: RunResult;

    before(async () => {
        [base, rotated, grown] = await Promise.all([runProgram(stack("1")), runProgram(stack("2")), runProgram(stack("1", true))]);
        for (const r of [base, rotated, grown]) {
            assert.equal(r.error, undefined, r.error?.message);
        }
    });

    it("declares one component per tenant, Namespaces only where created, protected", () => {
        assert.deepEqual(ofType(base, "registry-access:index:RegistryAccess").map((c) => c.name), ["team-a", "team-b", "team-c"]);
        const namespaces = ofType(base, NAMESPACE);
        assert.deepEqual(namespaces.map((n) => n.name), ["team-a", "team-b"]);
        assert.ok(namespaces.every((n) => n.protect), "created namespaces are protected");
        assert.deepEqual(namespaces[0].inputs.metadata, {
            name: "team-a",
            labels: { "example.org/team": "a" },
            // The stack's mark (components/namespaceOwnership.ts) beside the configured ones.
            annotations: { "example.org/owner": "a@example.org", "registry-access/stack": "dev" },
        });
        assert.deepEqual(namespaces[1].inputs.metadata, { name: "team-b", annotations: { "registry-access/stack": "dev" } });
    });

    it("protects everything in a created namespace, so no way of running destroy deletes part of it; nothing in an adopted one", () => {
        // Every resource's name starts with its tenant's namespace (children: namespace/object).
        const tenantOf = (name: string) => name.split("/")[0];
        const protectedBy = new Map<string, boolean[]>();
        for (const r of base.resources.filter((x) => x.type.startsWith("kubernetes:") || x.type.startsWith("random:") || x.type.startsWith("registry-access:"))) {
            const tenant = tenantOf(r.name);
            protectedBy.set(tenant, [...(protectedBy.get(tenant) ?? []), r.protect]);
        }
        assert.deepEqual([...protectedBy.keys()], ["team-a", "team-b", "team-c"]);
        assert.ok(protectedBy.get("team-a")!.every(Boolean) && protectedBy.get("team-b")!.every(Boolean), "a resource of a created namespace is not protected");
        assert.ok(!protectedBy.get("team-c")!.some(Boolean), "a resource of an adopted namespace is protected");
    });

    it("gives each tenant the shared registries and its own, each Secret in its namespace", () => {
        const secrets = ofType(base, SECRET).map((s) => `${(s.inputs.metadata as { namespace: string }).namespace}/${(s.inputs.metadata as { name: string }).name}`);
        assert.deepEqual(secrets, [
            "team-a/regcred-registry-example-org",
            "team-a/regcred-tenants-example-org-5000",
            "team-b/regcred-registry-example-org",
            "team-b/regcred-tenants-example-org-5000",
            "team-b/regcred-ghcr-io",
            "team-c/regcred-registry-example-org",
            "team-c/regcred-tenants-example-org-5000",
        ]);
    });

    it("patches each listed ServiceAccount with the tenant's Secrets and the kept ones, forced and retained as configured", () => {
        const patches = ofType(base, PATCH);
        assert.deepEqual(patches.map((p) => p.name), ["team-a/default", "team-a/xnat", "team-b/default", "team-c/default"]);
        const a = patches[1].inputs as { metadata: { name: string; annotations: Record<string, string> }; imagePullSecrets: unknown };
        assert.equal(a.metadata.name, "xnat");
        assert.equal(a.metadata.annotations["pulumi.com/patchForce"], "true");
        assert.deepEqual(a.imagePullSecrets, [{ name: "regcred-registry-example-org" }, { name: "regcred-tenants-example-org-5000" }, { name: "vendor-pull" }]);
        assert.deepEqual((patches[2].inputs as { imagePullSecrets: unknown }).imagePullSecrets, [
            { name: "regcred-registry-example-org" },
            { name: "regcred-tenants-example-org-5000" },
            { name: "regcred-ghcr-io" },
        ]);
        assert.ok(patches.every((p) => p.retainOnDelete), "onPatchDelete: retain sets retainOnDelete");
    });

    it("lists every tenant in the outputs, without the one-namespace outputs", () => {
        const tenants = base.outputs.tenants as { namespace: string; pullSecretNames: string[]; serviceAccounts: string[] }[];
        assert.deepEqual(tenants.map((t) => [t.namespace, t.pullSecretNames.length, t.serviceAccounts]), [
            ["team-a", 2, ["default", "xnat"]],
            ["team-b", 3, ["default"]],
            ["team-c", 2, ["default"]],
        ]);
        assert.equal(base.outputs.namespace, undefined);
    });

    it("generates one RandomPassword per tenant and generated registry, letters and digits, with the tenant's keeper", () => {
        assert.deepEqual(inputsOf(base, RANDOM), {
            "team-a/regcred-tenants-example-org-5000": { length: 40, special: false, keepers: { rotation: "1" } },
            "team-b/regcred-tenants-example-org-5000": { length: 40, special: false, keepers: { rotation: "" } },
            "team-c/regcred-tenants-example-org-5000": { length: 40, special: false, keepers: { rotation: "" } },
        });
    });

    it("builds each generated Secret from its tenant's password, as kubectl would", async () => {
        const creds = generated(base);
        for (const ns of ["team-a", "team-b", "team-c"]) {
            const cred = creds[ns]["regcred-tenants-example-org-5000"];
            assert.equal(cred.username, ns);
            assert.equal(cred.password.length, 40);
            const secret = ofType(base, SECRET).find((s) => (s.inputs.metadata as { namespace: string; name: string }).namespace === ns && (s.inputs.metadata as { name: string }).name === "regcred-tenants-example-org-5000");
            const data = unwrapSecrets(secret?.inputs.data) as Record<string, string>;
            const expected = await kubectlDockerConfig({ server: "tenants.example.org:5000", username: ns, password: cred.password });
            assert.equal(data[".dockerconfigjson"], expected.toString("base64"));
        }
        assert.notEqual(creds["team-a"]["regcred-tenants-example-org-5000"].password, creds["team-b"]["regcred-tenants-example-org-5000"].password);
    });

    it("exports the passwords and htpasswd lines as secrets, and each line verifies with bcrypt", () => {
        assert.ok(isSecretWrapper(base.outputs.generatedCredentials), "generatedCredentials is not secret");
        assert.ok(isSecretWrapper(base.outputs.htpasswd), "htpasswd is not secret");
        const files = unwrapSecrets(base.outputs.htpasswd) as Record<string, string>;
        assert.deepEqual(Object.keys(files), ["tenants.example.org:5000"]);
        const lines = files["tenants.example.org:5000"].trimEnd().split("\n");
        const creds = generated(base);
        assert.deepEqual(lines.map((l) => l.split(":")[0]), ["team-a", "team-b", "team-c"]);
        for (const line of lines) {
            const [user, hash] = [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)];
            const password = creds[user]["regcred-tenants-example-org-5000"].password;
            assert.match(hash, /^\$2[aby]\$\d\d\$/);
            assert.ok(compareSync(password, hash), `htpasswd line for ${user} does not verify`);
            assert.ok(!compareSync(`${password}x`, hash));
        }
    });

    it("never has a configured or generated password in plaintext, and every Secret's data is secret", () => {
        const creds: { server: string; username: string; password: string }[] = [
            { server: "registry.example.org", username: "platform", password: SHARED_PASSWORD },
            { server: "ghcr.io", username: "b-bot", password: "ghp_secretB" },
            ...Object.values(generated(base)).flatMap((c) => Object.values(c)),
        ];
        const forms = creds.flatMap(leakForms);
        for (const { path, value } of plaintextStrings({ inputs: base.resources.map((r) => r.inputs), outputs: base.outputs })) {
            for (const form of forms) {
                assert.ok(!value.includes(form), `plaintext password material at ${path}`);
            }
        }
        assert.ok(forms.every((f) => !base.log.includes(f)));
        for (const s of ofType(base, SECRET)) {
            assert.ok(isSecretWrapper(s.inputs.data), `${s.name}: data is not a Pulumi secret`);
        }
    });

    it("a keeper change regenerates only that tenant's password", () => {
        const before = inputsOf(base, RANDOM);
        const after = inputsOf(rotated, RANDOM);
        const changed = Object.keys(before).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
        assert.deepEqual(changed, ["team-a/regcred-tenants-example-org-5000"]);
        const [g1, g2] = [generated(base), generated(rotated)];
        assert.notEqual(g1["team-a"]["regcred-tenants-example-org-5000"].password, g2["team-a"]["regcred-tenants-example-org-5000"].password);
        assert.equal(g1["team-b"]["regcred-tenants-example-org-5000"].password, g2["team-b"]["regcred-tenants-example-org-5000"].password);
        // Nothing but generated Secrets of team-a differ.
        const diff = base.resources.filter((r, i) => JSON.stringify(unwrapSecrets(r.inputs)) !== JSON.stringify(unwrapSecrets(rotated.resources[i].inputs)));
        assert.deepEqual(diff.map((r) => r.name), ["team-a/regcred-tenants-example-org-5000", "team-a/regcred-tenants-example-org-5000"]);
        assert.deepEqual(diff.map((r) => r.type), [RANDOM, SECRET]);
    });

    it("names children so that no two namespaces' resources can collide", async () => {
        // With "-" as separator, x + y-z and x-y + z would both give x-y-z.
        const r = await runProgram({
            tenants: [
                { namespace: "x", registries: [{ server: "a.example.org", username: "u", password: "p1", secretName: "y-z" }], serviceAccounts: ["y-default"] },
                { namespace: "x-y", registries: [{ server: "b.example.org", username: "u", password: "p2", secretName: "z" }] },
            ],
        });
        assert.equal(r.error, undefined, r.error?.message);
        const urns = r.resources.map((x) => x.urn);
        assert.equal(new Set(urns).size, urns.length, urns.join("\n"));
        assert.deepEqual(ofType(r, SECRET).map((s) => s.name), ["x/y-z", "x-y/z"]);
    });

    it("adding a tenant leaves every existing resource's inputs as they were", () => {
        const existing = new Map(base.resources.map((r) => [r.urn, JSON.stringify(r.inputs)]));
        for (const r of grown.resources.filter((x) => existing.has(x.urn))) {
            assert.equal(JSON.stringify(r.inputs), existing.get(r.urn), r.name);
        }
        assert.deepEqual(ofType(grown, NAMESPACE).map((n) => n.name), ["team-a", "team-b", "team-d"]);
    });
});
