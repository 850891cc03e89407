/**
 * The component's own secrecy, independent of what the SDKs add: `@pulumi/kubernetes` makes a
 * Secret's `data` secret by itself and the random provider marks its result secret in state, so
 * tests that look at what reaches the engine cannot see whether the component wraps the values.
 * Here the resource classes the component uses are replaced by recorders that add nothing, and
 * a RandomPassword recorder returns its result as a plain Output; every value the component hands
 * to them or registers as an output must be secret where it holds password material.
 */
import * as pulumi from "@pulumi/pulumi";
import * as assert from "node:assert/strict";
import { RegistryAccess, type RegistryAccessArgs } from "../components/registryAccess";
import { leakForms } from "./support/secrets";

interface Recorded {
    type: string;
    name: string;
    args: Record<string, unknown>;
    opts?: pulumi.CustomResourceOptions;
}

const recorded: Recorded[] = [];
const GENERATED = "Gen3rated0Passw0rd0Value0Abcdefgh";
const HASH = "$2a$10$abcdefghijklmnopqrstuuVWXYZ0123456789abcdefghijklmnopq";

/** Stands in for an SDK resource class: registers a resource with no inputs and records the args. */
class Recorder extends pulumi.CustomResource {
    readonly metadata: pulumi.Output<unknown>;
    readonly result: pulumi.Output<string>;
    readonly bcryptHash: pulumi.Output<string>;
    readonly data: pulumi.Output<Record<string, string>>;
    constructor(type: string, name: string, args: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) {
        super(type, name, {}, opts);
        recorded.push({ type, name, args, opts });
        this.metadata = pulumi.output(args.metadata);
        // Plain, as if the provider marked nothing secret.
        this.result = pulumi.output(GENERATED);
        this.bcryptHash = pulumi.output(HASH);
        // A token Secret's data as the token controller fills it.
        this.data = pulumi.output<Record<string, string>>({ token: Buffer.from("service-account-token").toString("base64"), "ca.crt": "Q0E=" });
    }
}

const STUBS: [module: string, name: string, type: string][] = [
    ["@pulumi/kubernetes/core/v1/namespace", "Namespace", "kubernetes:core/v1:Namespace"],
    ["@pulumi/kubernetes/core/v1/secret", "Secret", "kubernetes:core/v1:Secret"],
    ["@pulumi/kubernetes/core/v1/serviceAccountPatch", "ServiceAccountPatch", "kubernetes:core/v1:ServiceAccountPatch"],
    ["@pulumi/random/randomPassword", "RandomPassword", "random:index/randomPassword:RandomPassword"],
];

/** The value of an Output (known under mocks). */
const valueOf = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply((v) => resolve(v)));

/**
 * Every place in a value where password material is readable without unwrapping a secret: plain
 * strings, and the values of Outputs that are not secret, searched through.
 */
async function exposed(value: unknown, forms: string[], path = "$"): Promise<string[]> {
    if (pulumi.Output.isInstance(value)) {
        return (await pulumi.isSecret(value)) ? [] : exposed(await valueOf(value), forms, `${path}(output)`);
    }
    if (typeof value === "string") {
        return forms.some((f) => value.includes(f)) ? [path] : [];
    }
    if (Array.isArray(value)) {
        return (await Promise.all(value.map((v, i) => exposed(v, forms, `${path}[${i}]`)))).flat();
    }
    if (typeof value === "object" && value !== null && !(value instanceof pulumi.Resource)) {
        return (await Promise.all(Object.entries(value).map(([k, v]) => exposed(v, forms, `${path}.${k}`)))).flat();
    }
    return [];
}

describe("RegistryAccess on its own (SDK resource classes replaced by recorders): secrecy and defaults", () => {
    const originals: unknown[] = [];
    let registered: Record<string, unknown>[] = [];
    const registerOutputs = pulumi.ComponentResource.prototype["registerOutputs"];

    before(async () => {
        for (const [module, name, type] of STUBS) {
            const exports = require(module) as Record<string, unknown>;
            originals.push(exports[name]);
            exports[name] = function (resourceName: string, args: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) {
                return new Recorder(type, resourceName, args, opts);
            };
        }
        pulumi.ComponentResource.prototype["registerOutputs"] = function (this: pulumi.ComponentResource, outputs?: pulumi.Inputs) {
            // The SDK also registers initialize()'s empty result for every component.
            if (this instanceof RegistryAccess && Object.keys(outputs ?? {}).length > 0) {
                registered.push({ ...(outputs as Record<string, unknown>) });
            }
            return registerOutputs.call(this, outputs);
        };
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
                call: () => ({}),
            },
            "registry-access",
            "secrecy",
            false,
        );
    });

    after(() => {
        STUBS.forEach(([module, name], i) => ((require(module) as Record<string, unknown>)[name] = originals[i]));
        pulumi.ComponentResource.prototype["registerOutputs"] = registerOutputs;
    });

    beforeEach(() => {
        recorded.length = 0;
        registered = [];
    });

    const declare = (registries: RegistryAccessArgs["registries"]) =>
        new RegistryAccess(`ns-${recorded.length}-${Math.random().toString(36).slice(2, 8)}`, { namespace: "team", registries });

    const secretData = (): pulumi.Output<string>[] =>
        recorded.filter((r) => r.type === "kubernetes:core/v1:Secret").map((r) => (r.args.data as Record<string, pulumi.Output<string>>)[".dockerconfigjson"]);

    it("makes a configured password secret in the Secret's data", async () => {
        const registry = { server: "registry.example.org", username: "puller", password: "Configured-Pa55word", secretName: "regcred" };
        declare([registry]);
        const [data] = secretData();
        assert.ok(pulumi.Output.isInstance(data), "the data is handed over as a plain value");
        assert.equal(await pulumi.isSecret(data), true, "the Secret's data is not secret");
        assert.deepEqual(await exposed(recorded, leakForms(registry)), []);
    });

    it("makes a password given as a plain Output secret in the Secret's data", async () => {
        const password = "Output-Pa55word-Plain";
        const registry = { server: "registry.example.org", username: "puller", password: pulumi.output(password), secretName: "regcred" };
        declare([registry]);
        const [data] = secretData();
        assert.equal(await pulumi.isSecret(data), true, "the Secret's data is not secret");
        assert.deepEqual(await exposed(recorded, leakForms({ ...registry, password })), []);
    });

    it("makes a generated password secret in the Secret's data and in generatedCredentials, htpasswd line included", async () => {
        const registry = { server: "registry.example.org", username: "team", generatePassword: { length: 32 }, secretName: "regcred" };
        const access = declare([registry]);
        const [data] = secretData();
        assert.equal(await pulumi.isSecret(data), true, "the Secret's data is not secret");
        assert.equal(await pulumi.isSecret(access.generatedCredentials), true, "generatedCredentials is not secret");
        assert.deepEqual(await valueOf(access.generatedCredentials), {
            regcred: { server: "registry.example.org", username: "team", password: GENERATED, htpasswd: `team:${HASH}` },
        });
        const forms = [...leakForms({ ...registry, password: GENERATED }), HASH];
        assert.deepEqual(await exposed(recorded, forms), []);
        assert.equal(registered.length, 1);
        assert.ok(pulumi.Output.isInstance(registered[0].generatedCredentials), "generatedCredentials is not registered");
        assert.deepEqual(await exposed(registered, forms), [], "a registered output exposes the generated password or its hash");
        assert.deepEqual(await exposed(access.generatedCredentials.apply((c) => Object.values(c).map((x) => x.htpasswd)), [HASH]), []);
    });

    it("keeps generatedCredentials secret even when nothing is generated", async () => {
        const access = declare([{ server: "registry.example.org", username: "puller", password: "Another-Pa55word", secretName: "regcred" }]);
        assert.equal(await pulumi.isSecret(access.generatedCredentials), true);
        assert.deepEqual(await valueOf(access.generatedCredentials), {});
        assert.deepEqual(Object.keys(registered[0]).sort(), ["namespace", "pullSecretNames", "serviceAccounts"]);
    });

    it("registers the Container Service's kubeconfig as its own output, secret", async () => {
        const access = new RegistryAccess("with-container-service", {
            namespace: "jobs",
            registries: [{ server: "registry.example.org", username: "puller", password: "Jobs-Pa55word", secretName: "regcred" }],
            containerService: { serviceAccount: "xnat-container-service", apiServer: "https://10.0.0.1:6443" },
        });
        assert.ok(access.containerServiceKubeconfig);
        assert.equal(await pulumi.isSecret(access.containerServiceKubeconfig), true, "the kubeconfig is not secret");
        assert.equal(registered.length, 1);
        assert.equal(registered[0].containerServiceKubeconfig, access.containerServiceKubeconfig);
        assert.match(await valueOf(access.containerServiceKubeconfig), /token: service-account-token$/m);
    });

    it("declares the documented defaults when given only a namespace and registries", async () => {
        const access = new RegistryAccess("defaults", {
            namespace: "team",
            registries: [{ server: "registry.example.org", username: "puller", password: "Default-Pa55word", secretName: "regcred" }],
        });
        assert.deepEqual(recorded.map((r) => [r.type, r.name]), [
            ["kubernetes:core/v1:Namespace", "defaults"],
            ["kubernetes:core/v1:Secret", "defaults/regcred"],
            ["kubernetes:core/v1:ServiceAccountPatch", "defaults/default"],
        ]);
        assert.deepEqual(recorded[0].args, { metadata: { name: "team", labels: undefined, annotations: undefined } });
        const patch = recorded[2];
        const metadata = patch.args.metadata as { name: string; namespace: pulumi.Output<string>; annotations: Record<string, string> };
        assert.equal(metadata.name, "default");
        assert.equal(await valueOf(metadata.namespace), "team");
        assert.deepEqual(metadata.annotations, { "pulumi.com/patchFieldManager": "registry-access", "pulumi.com/patchForce": "false" });
        assert.deepEqual(patch.args.imagePullSecrets, [{ name: "regcred" }]);
        assert.equal(patch.opts?.retainOnDelete, false);
        assert.equal((access as unknown as { __protect?: boolean }).__protect, false);
        assert.deepEqual(await valueOf(access.serviceAccounts), ["default"]);
        assert.deepEqual(await valueOf(access.pullSecretNames), ["regcred"]);
        assert.equal(await valueOf(access.namespace), "team");
    });

    it("refuses a registry with neither a password nor generatePassword", () => {
        assert.throws(
            () => new RegistryAccess("neither", { namespace: "team", registries: [{ server: "registry.example.org", username: "u", secretName: "regcred" }] }),
            /^Error: registry regcred has neither a password nor generatePassword$/,
        );
    });
});
