/**
 * The offline check's reading of a stack file (check/stackReading.ts) is Pulumi's: for a file of
 * the YAML shapes people write (aliases, merge keys, numbers, booleans, nulls, hex, dates, quoted
 * and block strings) and a dotted stack name, every key's value equals what `pulumi config --json`
 * hands the program.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { checkStackFile } from "../../check/stackFile";
import { readStackFile } from "../../check/stackReading";
import { ROOT } from "../../deploy/engine";
import { ENV } from "./support/engine";

const CONFIG = `config:
  registry-access:namespace: 123
  registry-access:verifyCredentials: true
  registry-access:imageIsolation: off
  registry-access:credentialRotation: 2024-06-01T10:00:00.5Z
  registry-access:annotations: {created: 2024-06-01, at: 2024-06-01T10:00:00Z, hex: 0x10}
  registry-access:caBundle: |
    -----BEGIN CERTIFICATE-----
    not a real one
  registry-access:combinedPullSecret: "quoted"
  registry-access:onPatchDelete: 1.10
  registry-access:patchForce: ~
  registry-access:protectNamespaces:
  registry-access:registries: &regs
    - &base
      server: a.example.org
      username: 100012345678
      email: 1.10
      password: yes
      generatePassword: {length: 0x20}
    - <<: *base
      server: b.example.org
      username: null
  registry-access:tenants:
    - namespace: team-a
      registries: *regs
      labels: {a: "1", b: 2, c: true}
  kubernetes:context: not-ours
`;

function pulumi(args: string[], cwd: string): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("pulumi", args, { cwd, env: { ...process.env, ...ENV } }, (err, stdout, stderr) => (err ? reject(new Error(`pulumi ${args.join(" ")}: ${stderr}`)) : resolve(stdout)));
    });
}

/** pulumi config --json of TEXT as stack `s` in DIR; undefined when Pulumi refuses the file. */
async function pulumiReading(dir: string, text: string): Promise<Record<string, { value?: string; objectValue?: unknown; secret: boolean }> | undefined> {
    writeFileSync(path.join(dir, "Pulumi.s.yaml"), text);
    try {
        return JSON.parse(await pulumi(["config", "--json", "--stack", "s"], dir)) as Record<string, { value?: string; objectValue?: unknown; secret: boolean }>;
    } catch {
        return undefined;
    }
}

describe("the check reads a stack file as the pulumi CLI does", function () {
    this.timeout(120000);

    it("every registry-access key's value equals pulumi config --json's, for a stack named prod.eu", async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "registry-access-reading-"));
        try {
            writeFileSync(path.join(dir, "Pulumi.yaml"), "name: registry-access\nruntime: nodejs\n");
            await pulumi(["stack", "init", "prod.eu", "--non-interactive"], dir);
            const file = path.join(dir, "Pulumi.prod.eu.yaml");
            const salt = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("encryptionsalt:"));
            assert.ok(salt, "pulumi stack init wrote no encryptionsalt");
            const text = `${salt}\n${CONFIG}`;
            writeFileSync(file, text);
            const cli = JSON.parse(await pulumi(["config", "--json", "--stack", "prod.eu"], dir)) as Record<string, { value: string; objectValue?: unknown }>;
            const ours = readStackFile(text).runtime;
            const theirs = Object.fromEntries(Object.entries(cli).filter(([k]) => k.startsWith("registry-access:")));
            assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
            for (const [key, { value, objectValue }] of Object.entries(theirs)) {
                // Structured values: the same JSON (Go sorts map keys, so compared parsed).
                assert.deepEqual(objectValue !== undefined ? JSON.parse(ours[key]) : ours[key], objectValue ?? value, key);
            }
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    // Every stack file the check is tested on: where Pulumi reads it, the values are ours; where
    // Pulumi refuses it, so does the check. Secret keys are compared by presence (Pulumi shows no value).
    it("the check's corpus, stacks/ and the schema's corpus: each key as Pulumi reads it, or refused by both", async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "registry-access-reading-"));
        try {
            writeFileSync(path.join(dir, "Pulumi.yaml"), "name: registry-access\nruntime: nodejs\n");
            await pulumi(["stack", "init", "s", "--non-interactive"], dir);
            const files = ["test/check-corpus", "stacks", "test/schema-corpus"].flatMap((d) =>
                readdirSync(path.join(ROOT, d)).filter((f) => f.endsWith(".yaml")).map((f) => path.join(d, f)),
            );
            let compared = 0;
            for (const file of files) {
                const text = readFileSync(path.join(ROOT, file), "utf8");
                const ours = readStackFile(text);
                const theirs = await pulumiReading(dir, text);
                if (theirs === undefined) {
                    assert.ok(checkStackFile(file, text, "s").length > 0, `${file}: Pulumi refuses it, the check does not`);
                    continue;
                }
                if (ours.errors.length > 0 || !ours.config) {
                    continue; // refused by the check, read by Pulumi: the program then sees no valid config either
                }
                for (const [key, { value, objectValue, secret }] of Object.entries(theirs).filter(([k]) => k.startsWith("registry-access:"))) {
                    assert.ok(key in ours.runtime, `${file}: ${key} is not in the check's reading`);
                    if (!secret) {
                        assert.deepEqual(objectValue !== undefined ? JSON.parse(ours.runtime[key]) : ours.runtime[key], objectValue ?? value, `${file}: ${key}`);
                    }
                }
                compared++;
            }
            assert.ok(compared > 40, `only ${compared} files compared`);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
