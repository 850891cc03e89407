import * as assert from "node:assert/strict";
import { kubectlDockerConfig } from "./support/kubectl";
import { ofType, runProgram, type RunResult } from "./support/runProgram";
import { isSecretWrapper, leakForms, plaintextStrings, unwrapSecrets } from "./support/secrets";

const COMPONENT = "registry-access:index:RegistryAccess";
const NAMESPACE = "kubernetes:core/v1:Namespace";
const SECRET = "kubernetes:core/v1:Secret";
const PATCH = "kubernetes:core/v1:ServiceAccountPatch";

// Passwords with characters where encoders differ, so leaks in any encoding are caught.
const REGISTRIES = [
    { server: "registry.example.org:5000", username: "xnat-puller", password: "Tr0ub4dor&<3>\u2028ü", email: "ops@example.org" },
    { username: "examplelab", password: "dckr_pat_0123456789:abc" },
];

function assertNoPlaintext(result: RunResult, secrets: string[]): void {
    const places = { inputs: result.resources.map((r) => r.inputs), outputs: result.outputs };
    for (const { path, value } of plaintextStrings(places)) {
        for (const s of secrets) {
            assert.ok(!value.includes(s), `plaintext password material at ${path}`);
        }
    }
    for (const s of secrets) {
        assert.ok(!result.log.includes(s), "password material in the program's output");
        assert.ok(!(result.error?.message ?? "").includes(s), "password material in the error");
    }
}

describe("program (index.ts under Pulumi mocks)", function () {
    this.timeout(60000);
    const scenarios = {
        twoRegistries: { namespace: "xnat-jobs", registries: REGISTRIES },
        adopted: { namespace: "shared-ns", createNamespace: "false", registries: [REGISTRIES[0]] },
        invalid: {
            namespace: "Not_A_Label",
            createNamespace: "sometimes",
            registries: [{ ...REGISTRIES[0], username: "team:bot" }, { server: "bad server", username: "", password: REGISTRIES[1].password }],
        },
        notAList: { namespace: "xnat-jobs", registries: "registry.example.org" },
        missingEverything: {},
    };
    const results: Record<string, RunResult> = {};
    let again: RunResult;

    before(async () => {
        const names = Object.keys(scenarios) as (keyof typeof scenarios)[];
        const runs = await Promise.all([...names.map((n) => runProgram(scenarios[n])), runProgram(scenarios.twoRegistries)]);
        names.forEach((n, i) => (results[n] = runs[i]));
        again = runs[names.length];
    });

    describe("with two registries", () => {
        it("declares one component, a Namespace, a Secret per registry and one ServiceAccountPatch", () => {
            const r = results.twoRegistries;
            assert.equal(r.error, undefined, r.error?.message);
            assert.deepEqual(
                r.resources.map((x) => [x.type, x.name]),
                [
                    [COMPONENT, "xnat-jobs"],
                    [NAMESPACE, "xnat-jobs"],
                    [SECRET, "xnat-jobs/regcred-registry-example-org-5000"],
                    [SECRET, "xnat-jobs/regcred-index-docker-io-v1"],
                    [PATCH, "xnat-jobs/default"],
                ],
            );
            const component = ofType(r, COMPONENT)[0];
            for (const child of r.resources.filter((x) => x.type !== COMPONENT)) {
                assert.equal(child.parent, component.urn, `${child.name} is not a child of the component`);
            }
            assert.deepEqual(ofType(r, NAMESPACE)[0].inputs, { apiVersion: "v1", kind: "Namespace", metadata: { name: "xnat-jobs", annotations: { "registry-access/stack": "dev" } } });
        });

        it("protects nothing and retains nothing on delete unless configured", () => {
            for (const r of [results.twoRegistries, results.adopted]) {
                assert.deepEqual(
                    r.resources.filter((x) => x.protect || x.retainOnDelete).map((x) => x.name),
                    [],
                );
            }
        });

        it("writes each Secret as kubectl would, in the namespace, with its data secret", async () => {
            const secrets = ofType(results.twoRegistries, SECRET);
            for (const [i, s] of secrets.entries()) {
                const inputs = s.inputs as { type: string; metadata: unknown; data: unknown };
                assert.equal(inputs.type, "kubernetes.io/dockerconfigjson");
                assert.deepEqual(inputs.metadata, {
                    name: ["regcred-registry-example-org-5000", "regcred-index-docker-io-v1"][i],
                    namespace: "xnat-jobs",
                });
                assert.ok(isSecretWrapper(inputs.data), "Secret data is not a Pulumi secret");
                const data = unwrapSecrets(inputs.data) as Record<string, string>;
                assert.deepEqual(Object.keys(data), [".dockerconfigjson"]);
                const reg = REGISTRIES[i];
                const expected = await kubectlDockerConfig({ server: reg.server ?? "https://index.docker.io/v1/", ...reg });
                assert.equal(data[".dockerconfigjson"], expected.toString("base64"));
            }
        });

        it("patches the default ServiceAccount with exactly those Secrets, under a stable field manager, not forced", () => {
            const [patch] = ofType(results.twoRegistries, PATCH);
            assert.deepEqual(patch.inputs, {
                apiVersion: "v1",
                kind: "ServiceAccount",
                metadata: {
                    name: "default",
                    namespace: "xnat-jobs",
                    annotations: { "pulumi.com/patchFieldManager": "registry-access-dev", "pulumi.com/patchForce": "false" },
                },
                imagePullSecrets: [{ name: "regcred-registry-example-org-5000" }, { name: "regcred-index-docker-io-v1" }],
            });
        });

        it("orders deletion: Secrets and the patch depend on the Namespace, the patch on the Secrets", () => {
            const r = results.twoRegistries;
            const ns = ofType(r, NAMESPACE)[0].urn;
            const secretUrns = ofType(r, SECRET).map((s) => s.urn);
            for (const s of ofType(r, SECRET)) {
                assert.deepEqual(s.dependsOn, [ns]);
            }
            assert.deepEqual(ofType(r, PATCH)[0].dependsOn, [ns, ...secretUrns]);
        });

        it("exports the namespace, the secret names and the patched ServiceAccounts, none secret", () => {
            const tenant = {
                namespace: "xnat-jobs",
                pullSecretNames: ["regcred-registry-example-org-5000", "regcred-index-docker-io-v1"],
                serviceAccounts: ["default"],
            };
            assert.deepEqual(results.twoRegistries.outputs, { ...tenant, tenants: [tenant] });
        });

        it("never has a password in plaintext in inputs, outputs or output", () => {
            assertNoPlaintext(results.twoRegistries, REGISTRIES.flatMap(leakForms));
        });

        it("declares byte-identical inputs on every run", () => {
            assert.equal(JSON.stringify(again.resources), JSON.stringify(results.twoRegistries.resources));
            assert.equal(JSON.stringify(again.outputs), JSON.stringify(results.twoRegistries.outputs));
        });
    });

    describe("adopting an existing namespace (createNamespace: false)", () => {
        it("declares no Namespace and puts the Secret and the patch into the named one", () => {
            const r = results.adopted;
            assert.equal(r.error, undefined, r.error?.message);
            assert.deepEqual(ofType(r, NAMESPACE), []);
            const [secret] = ofType(r, SECRET);
            const [patch] = ofType(r, PATCH);
            assert.equal((secret.inputs.metadata as { namespace: string }).namespace, "shared-ns");
            assert.equal((patch.inputs.metadata as { namespace: string }).namespace, "shared-ns");
            assert.deepEqual(secret.dependsOn, []);
            assert.deepEqual(patch.dependsOn, [secret.urn]);
            assert.equal(r.outputs.namespace, "shared-ns");
        });
    });

    describe("invalid config", () => {
        it("stops before any resource with every problem listed, as a RunError (no stack trace)", () => {
            const r = results.invalid;
            assert.deepEqual(r.resources, []);
            assert.equal(r.error?.name, "RunError");
            const message = r.error?.message ?? "";
            for (const path of [
                "namespace",
                "createNamespace",
                "registries[0].username",
                "registries[1].server",
                "registries[1].username",
            ]) {
                assert.ok(message.includes(`registry-access:${path}: `), `${path} missing from:\n${message}`);
            }
            assert.match(message, /^invalid stack config, 5 problems:/);
        });

        it("never echoes a password", () => {
            assertNoPlaintext(results.invalid, [REGISTRIES[0].password, REGISTRIES[1].password]);
        });

        it("reports a string where a list is expected", () => {
            assert.deepEqual(results.notAList.resources, []);
            assert.match(results.notAList.error?.message ?? "", /registry-access:registries: must be a list, not a string/);
        });

        it("reports a missing namespace", () => {
            const message = results.missingEverything.error?.message ?? "";
            assert.match(message, /registry-access:namespace: is required \(or set namespaceSelector, or list tenants\)/);
            assert.deepEqual(results.missingEverything.resources, []);
        });
    });
});
