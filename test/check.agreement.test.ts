/**
 * `npm run check` and the program agree on every stack file of the check's corpus and of stacks/:
 * the program is run (under mocks, in its own process) with the config Pulumi would hand it, its
 * `secure:` values decrypted to a stand-in, and must refuse exactly the keys the check refuses,
 * with the same messages. What only the file shows (a plaintext password, a broken ciphertext,
 * YAML syntax) is the check's alone.
 */
import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { checkStackFile } from "../check/stackFile";
import { readStackFile } from "../check/stackReading";
import { ENCRYPTED_PLACEHOLDER } from "../components/config";
import { runProgram } from "./support/runProgram";

const ROOT = path.resolve(__dirname, "../..");
const FILES = [
    ...readdirSync(path.join(ROOT, "test/check-corpus")).filter((f) => f.endsWith(".yaml")).map((f) => `test/check-corpus/${f}`),
    ...readdirSync(path.join(ROOT, "stacks")).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).map((f) => `stacks/${f}`),
];

// What the file shows and the program cannot see.
const FILE_ONLY = [/^is a password in plaintext$/, /^is not a well-formed secure value$/, /^has secure values but no/, /^is encrypted as a whole/, /^is not valid YAML/];

/** The program's problems, `path: message`, from its error; [] when it declared its resources. */
async function programProblems(runtime: Record<string, string>): Promise<string[]> {
    const config = Object.fromEntries(Object.entries(runtime).map(([k, v]) => [k, v.replaceAll(ENCRYPTED_PLACEHOLDER, "stand-in-secret")]));
    const result = await runProgram({ ...config, "registry-access:verifyCredentials": "false" }, { secretKeys: [] });
    if (result.error === undefined) {
        return [];
    }
    const problems = [...result.error.message.matchAll(/^ {2}- registry-access:(\S*): (.*) \(fix: .*\)$/gm)].map(([, p, m]) => `${p}: ${m}`);
    assert.ok(problems.length > 0, `the program failed without a config problem: ${result.error.message}`);
    return [...new Set(problems)].sort();
}

describe("npm run check and the program agree on every stack file", function () {
    this.timeout(120000);
    for (const file of FILES) {
        it(file, async () => {
            const text = readFileSync(path.join(ROOT, file), "utf8");
            const findings = checkStackFile(file, text, "s");
            const fileOnly = findings.filter((f) => FILE_ONLY.some((r) => r.test(f.message)));
            const reading = readStackFile(text);
            if (reading.errors.length > 0 || reading.wholeSecure.length > 0) {
                assert.ok(fileOnly.length > 0, "the check must refuse a file it cannot read");
                return;
            }
            const check = [...new Set(findings.filter((f) => !fileOnly.includes(f)).map((f) => `${f.path}: ${f.message}`))].sort();
            const program = await programProblems(reading.runtime);
            if (!reading.config) {
                // No config at all: both refuse, the check naming the missing section.
                assert.ok(check.length > 0 && program.length > 0, `${check} / ${program}`);
                return;
            }
            assert.deepEqual(check, program);
        });
    }
});
