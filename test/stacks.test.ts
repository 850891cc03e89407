/**
 * Every stack file in stacks/, run as Pulumi would run them: the project's config defaults from
 * Pulumi.yaml applied, structured values passed as JSON, `secure:` leaves decrypted (here to
 * stand-in passwords, the passphrase not being in the repository). Credential verification is
 * turned off: the registries named in the stacks are not reachable from the tests. The checks hold
 * for any team's stacks, not only the shipped examples: a team replaces those with its own, and
 * its pipelines run this suite (the stand-in stacks of `npm run pipelines` do exactly that).
 */
import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ofType, runProgram, type RunResult } from "./support/runProgram";
import { isSecretWrapper } from "./support/secrets";

const ROOT = path.resolve(__dirname, "../..");
const STACKS = readdirSync(path.join(ROOT, "stacks")).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).sort();

/** A stack file's config as the runtime sees it, keys without the project prefix. */
function runtimeConfig(file: string): Record<string, unknown> {
    const project = parse(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown }> };
    const stack = parse(readFileSync(path.join(ROOT, "stacks", file), "utf8")) as { config: Record<string, unknown> };
    let standIns = 0;
    const decrypt = (v: unknown): unknown => {
        if (Array.isArray(v)) {
            return v.map(decrypt);
        }
        if (typeof v === "object" && v !== null) {
            const entries = Object.entries(v);
            return entries.length === 1 && entries[0][0] === "secure" ? `stand-in-password-${standIns++}` : Object.fromEntries(entries.map(([k, x]) => [k, decrypt(x)]));
        }
        return v;
    };
    const config: Record<string, unknown> = {};
    for (const [key, declared] of Object.entries(project.config)) {
        if (key.includes(":")) {
            continue; // a provider's setting (kubernetes:...), not the program's
        }
        config[key] = String(declared.default);
    }
    for (const [key, value] of Object.entries(stack.config)) {
        const name = key.replace(/^registry-access:/, "");
        config[name] = typeof value === "object" ? decrypt(value) : String(value);
    }
    config.verifyCredentials = "false";
    return config;
}

describe("the shipped stacks under mocks", function () {
    this.timeout(60000);
    const results = new Map<string, RunResult>();

    before(async () => {
        assert.ok(STACKS.length > 0, "no stack file in stacks/");
        const runs = await Promise.all(STACKS.map((f) => runProgram(runtimeConfig(f), { stack: f.slice("Pulumi.".length, -".yaml".length) })));
        STACKS.forEach((f, i) => results.set(f, runs[i]));
    });

    for (const file of STACKS) {
        it(`${file} declares its namespaces' Secrets and patches, every one of its passwords secret`, () => {
            const r = results.get(file)!;
            assert.equal(r.error, undefined, r.error?.message);
            const pullSecrets = ofType(r, "kubernetes:core/v1:Secret").filter((x) => x.inputs.type === "kubernetes.io/dockerconfigjson");
            assert.ok(pullSecrets.length > 0, `${file}: no pull Secret`);
            assert.ok(ofType(r, "kubernetes:core/v1:ServiceAccountPatch").length > 0, `${file}: no ServiceAccount patch`);
            for (const secret of pullSecrets) {
                assert.ok(isSecretWrapper(secret.inputs.stringData ?? secret.inputs.data), `${file}: ${secret.name}'s data is not secret`);
            }
        });
    }
});
