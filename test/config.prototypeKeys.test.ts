/**
 * Config keys named like members of Object.prototype are keys like any other: they are reported
 * with their path and a fix, never looked up on the prototype (which once made the program and
 * `npm run check` stop with a TypeError and a stack trace instead of the problem list).
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ConfigError, fromPulumiConfig, validateStackConfig } from "../components/config";
import { runProgram } from "./support/runProgram";

const KEYS = ["constructor", "toString", "valueOf", "__proto__", "hasOwnProperty"];
const ROOT = path.resolve(__dirname, "../..");
const registries = [{ server: "registry.example.org", username: "puller", password: "Pw-proto-keys-1" }];

/** The problems of a config given as Pulumi passes it (every value a string, structures as JSON). */
function problemsOf(config: Record<string, unknown>): { path: string; message: string; fix: string }[] {
    const wire = Object.fromEntries(Object.entries(config).map(([k, v]) => [`registry-access:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
    try {
        validateStackConfig(fromPulumiConfig(wire));
    } catch (err) {
        assert.ok(err instanceof ConfigError, `threw ${String(err)}`);
        return err.problems;
    }
    assert.fail("config was accepted");
}

describe("config keys named like Object.prototype members", function () {
    // The program and the CLI run in processes of their own, as in the other program tests.
    this.timeout(60000);
    for (const key of KEYS) {
        it(`label key ${key} with a bad value is a problem at its path`, () => {
            const problems = problemsOf({ namespace: "ns", registries, labels: { [key]: "bad value!" } });
            assert.equal(problems.length, 1, JSON.stringify(problems));
            assert.match(problems[0].path, new RegExp(`^labels(\\.${key}|\\["${key}"\\])$`));
            assert.match(problems[0].fix, /label keys to values|at most 63/);
        });

        it(`annotation key ${key} with a value that is not a string is a problem at its path`, () => {
            const problems = problemsOf({ namespace: "ns", registries, annotations: { [key]: 4.2 } });
            assert.equal(problems.length, 1, JSON.stringify(problems));
            assert.match(problems[0].path, new RegExp(`^annotations(\\.${key}|\\["${key}"\\])$`));
            assert.match(problems[0].fix, /--type string --path|annotation keys to string values/);
        });

        it(`top-level key ${key} is reported as unknown`, () => {
            const problems = problemsOf({ namespace: "ns", registries, [key]: "x" });
            assert.deepEqual(
                problems.map((p) => [p.path, p.message]),
                [[key, "is not a known key"]],
            );
        });
    }

    it("the program lists the problems instead of stopping with a TypeError", async () => {
        const result = await runProgram({ namespace: "ns", registries, labels: { constructor: "bad value!", valueOf: "bad!" }, toString: "x" });
        assert.ok(result.error, "the program accepted the config");
        assert.match(result.error.message, /^invalid stack config, 3 problems:/);
        assert.doesNotMatch(`${result.error.message}\n${result.log}`, /TypeError|\n\s+at /);
    });

    it("npm run check lists the problems with positions instead of crashing", async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "registry-access-proto-"));
        try {
            const file = path.join(dir, "Pulumi.proto.yaml");
            writeFileSync(
                file,
                [
                    "config:",
                    "  registry-access:namespace: ns",
                    "  registry-access:toString: x",
                    "  registry-access:labels:",
                    '    constructor: "bad value!"',
                    '    __proto__: "bad value!"',
                    "  registry-access:annotations:",
                    "    valueOf: 4.2",
                    "  registry-access:registries:",
                    "    - server: registry.example.org",
                    "      username: puller",
                    "      password:",
                    "        secure: v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA",
                    "encryptionsalt: v1:AAAAAAAAAAA=:v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                    "",
                ].join("\n"),
            );
            const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
                execFile(process.execPath, [path.join(ROOT, "build/check/cli.js"), file], { cwd: ROOT }, (err, stdout, stderr) =>
                    resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
                ),
            );
            assert.equal(run.code, 1, run.stderr);
            assert.doesNotMatch(run.stderr, /TypeError|\n\s+at /);
            const lines = run.stdout.trimEnd().split("\n");
            for (const key of ["toString", "labels(\\.constructor|\\[\"constructor\"\\])", "labels(\\.__proto__|\\[\"__proto__\"\\])", "annotations(\\.valueOf|\\[\"valueOf\"\\])"]) {
                assert.ok(
                    lines.some((l) => new RegExp(`:\\d+:\\d+ ${key}: .+ \\(fix: .+\\)$`).test(l)),
                    `no problem for ${key} in:\n${run.stdout}`,
                );
            }
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
