/**
 * The offline check's reading of a stack file (check/stackReading.ts) is Pulumi's: for a file of
 * the YAML shapes people write (aliases, merge keys, numbers, booleans, nulls, hex, dates, quoted
 * and block strings) and a dotted stack name, every key's value equals what `pulumi config --json`
 * hands the program.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { readStackFile } from "../../check/stackReading";
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
});
