import * as assert from "node:assert/strict";
import { validateStackConfig } from "../components/config";
import { DOCKER_HUB_SERVER } from "../components/dockerConfig";
import { kubectlDockerConfig } from "./support/kubectl";
import { problemsFinder } from "./support/problems";
import { ofType, runProgram, type RunResult } from "./support/runProgram";
import { isSecretWrapper, leakForms, plaintextStrings, unwrapSecrets } from "./support/secrets";

const PASSWORD = "c0mbined-Secret:<pw>&";
const { problems, problemAt } = problemsFinder(PASSWORD);

const SECRET = "kubernetes:core/v1:Secret";
const PATCH = "kubernetes:core/v1:ServiceAccountPatch";
const REGISTRIES = [
    { server: "registry.example.org", username: "puller", password: PASSWORD },
    { server: "ghcr.io", username: "bot", password: "ghp_other", email: "bot@example.org" },
];
const stack = (extra: Record<string, unknown> = {}) => ({
    combinedPullSecret: "regcred",
    sharedRegistries: [{ username: "hub", password: "hub-token" }],
    tenants: [
        { namespace: "team-a", registries: REGISTRIES, keepPullSecrets: ["vendor-pull"] },
        { namespace: "team-b", registries: [{ server: "tenants.example.org", generatePassword: true }] },
    ],
    ...extra,
});

describe("combinedPullSecret: every registry in one Secret", () => {
    describe("config", () => {
        it("is kept on the stack config, and the registries keep their default names for generated passwords", () => {
            const config = validateStackConfig(stack());
            assert.equal(config.combinedPullSecret, "regcred");
            assert.deepEqual(config.tenants[1].registries.map((r) => r.secretName), ["regcred-index-docker-io-v1", "regcred-tenants-example-org"]);
            assert.equal(validateStackConfig({ namespace: "a", registries: [REGISTRIES[0]] }).combinedPullSecret, undefined);
        });

        it("must be a DNS-1123 subdomain", () => {
            const p = problemAt(stack({ combinedPullSecret: "Reg_Cred" }), "combinedPullSecret");
            assert.match(p.message, /DNS-1123 subdomain/);
            assert.match(p.fix, /regcred/);
        });

        it("refuses a registry's own secretName, shared ones once, with every other problem", () => {
            const raw = stack({
                sharedRegistries: [{ username: "hub", password: "hub-token", secretName: "hub" }],
                tenants: [
                    { namespace: "team-a", registries: [{ ...REGISTRIES[0], secretName: "mine" }, REGISTRIES[1]] },
                    { namespace: "team-b", registries: [REGISTRIES[0]] },
                ],
            });
            const found = problems(raw);
            assert.deepEqual(found.map((p) => p.path), ["sharedRegistries[0].secretName", "tenants[0].registries[0].secretName"]);
            for (const p of found) {
                assert.match(p.message, /names no Secret: combinedPullSecret puts every registry into the Secret 'regcred'/);
                assert.equal(p.fix, "remove it, or remove combinedPullSecret for a Secret per registry");
            }
        });

        it("still refuses two entries for one registry, and the combined name among keepPullSecrets", () => {
            const raw = stack({
                tenants: [{ namespace: "team-a", registries: [REGISTRIES[0], { ...REGISTRIES[0], username: "other" }], keepPullSecrets: ["regcred", "regcred-registry-example-org"] }],
            });
            assert.match(problemAt(raw, "tenants[0].registries[1].server").fix, /one entry per registry in the combined Secret/);
            assert.match(problemAt(raw, "tenants[0].keepPullSecrets[0]").message, /a Secret this stack manages/);
            // Without one Secret per registry, a registry's default name is another tool's Secret.
            assert.ok(!problems(raw).some((p) => p.path === "tenants[0].keepPullSecrets[1]"));
        });
    });

    describe("program (mocks)", function () {
        this.timeout(60000);
        let run: RunResult;
        before(async () => {
            run = await runProgram(stack());
            assert.equal(run.error, undefined, run.error?.message);
        });

        it("declares one Secret per namespace, named as configured, and lists it first on the ServiceAccount", () => {
            assert.deepEqual(ofType(run, SECRET).map((s) => s.name), ["team-a/regcred", "team-b/regcred"]);
            const patches = ofType(run, PATCH);
            assert.deepEqual(patches.map((p) => [p.name, p.inputs.imagePullSecrets]), [
                ["team-a/default", [{ name: "regcred" }, { name: "vendor-pull" }]],
                ["team-b/default", [{ name: "regcred" }]],
            ]);
            assert.deepEqual((run.outputs.tenants as { pullSecretNames: string[] }[]).map((t) => t.pullSecretNames), [["regcred"], ["regcred"]]);
        });

        it("holds every registry's entry exactly as kubectl writes it, the passwords secret", async () => {
            const secret = ofType(run, SECRET)[0];
            assert.ok(isSecretWrapper(secret.inputs.data), "the docker config is secret");
            const data = (unwrapSecrets(secret.inputs.data) as Record<string, string>)[".dockerconfigjson"];
            const json = Buffer.from(data, "base64").toString("utf8");
            const creds = [{ server: DOCKER_HUB_SERVER, username: "hub", password: "hub-token" }, ...REGISTRIES];
            const entries = await Promise.all(creds.map(async (c) => (await kubectlDockerConfig(c)).toString("utf8").slice('{"auths":{'.length, -2)));
            // Go's map order: "ghcr.io" < "https://index.docker.io/v1/" < "registry.example.org".
            assert.equal(json, `{"auths":{${[entries[2], entries[0], entries[1]].join(",")}}}`);
            for (const r of ofType(run, SECRET)) {
                for (const leak of [...leakForms(REGISTRIES[0]), ...leakForms(REGISTRIES[1])]) {
                    assert.ok(!plaintextStrings(r.inputs).some((s) => s.value.includes(leak)), `${r.name} holds a password in plaintext`);
                }
            }
        });

        it("puts a generated password into the combined Secret and keys it by the registry's default name", () => {
            const generated = unwrapSecrets(run.outputs.generatedCredentials) as Record<string, Record<string, { password: string }>>;
            const password = generated["team-b"]["regcred-tenants-example-org"].password;
            const data = (unwrapSecrets(ofType(run, SECRET)[1].inputs.data) as Record<string, string>)[".dockerconfigjson"];
            const auths = (JSON.parse(Buffer.from(data, "base64").toString("utf8")) as { auths: Record<string, { password: string }> }).auths;
            assert.deepEqual(Object.keys(auths), [DOCKER_HUB_SERVER, "tenants.example.org"]);
            assert.equal(auths["tenants.example.org"].password, password);
        });
    });
});
