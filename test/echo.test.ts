/**
 * Echo checks end to end: no part of a password (any run of 8 characters, JSON-escaped or in
 * base64) in the validator's messages, the check CLI's text and --json output, YAML parser
 * messages, or the program's error and stack trace.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { checkStackFile } from "../check/stackFile";
import { ConfigError, validateStackConfig } from "../components/config";
import { basicAuth } from "../components/dockerConfig";
import { cloudUsernameProblem } from "../components/names";
import { findEcho } from "./support/echo";
import { runProgram } from "./support/runProgram";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(ROOT, "build/check/cli.js");

// JSON.parse quotes the first characters of what it cannot read ("Unexpected token 'x', "x7Hq…"
// is not valid JSON"): a password that is not JSON, one almost a key file, one with escapes.
const NOT_JSON = "x7Hq2LmPvW9zKr4t";
const ALMOST_KEY = '{"type":"service_account","private_key":"Qm8vTz3RkW5yPn';
const ESCAPES = 'Zp4"Wq\\n7Lx\u2028Rt9#Vb: k';
const HOSTILE = [NOT_JSON, ALMOST_KEY, ESCAPES];

function cli(args: string[], cwd: string): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
        execFile(process.execPath, [CLI, ...args], { cwd }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, out: stdout + stderr }));
    });
}

describe("echo checks", function () {
    this.timeout(60000);

    it("the check finds runs of a password, raw, JSON-escaped and in base64 at any alignment", () => {
        assert.equal(findEcho('Unexpected token \'x\', "x7Hq2LmPvW"... is not valid JSON', [NOT_JSON]), "x7Hq2LmP");
        assert.equal(findEcho(`near ${JSON.stringify(ESCAPES).slice(5, 14)}`, [ESCAPES]), JSON.stringify(ESCAPES).slice(5, 13));
        for (const prefix of ["", "a", "ab", "user:"]) {
            const encoded = Buffer.from(`${prefix}${NOT_JSON}`).toString("base64");
            assert.notEqual(findEcho(`auth ${encoded}`, [NOT_JSON]), undefined, `base64 after ${JSON.stringify(prefix)}`);
        }
        assert.notEqual(findEcho(basicAuth("puller", NOT_JSON), [NOT_JSON]), undefined);
        assert.equal(findEcho("is not a service account JSON key (username _json_key expects the whole key file)", HOSTILE), undefined);
    });

    // Regression: the _json_key rule once could be made to append JSON.parse's error, which quotes the password.
    it("the _json_key message carries no part of a password that is not a key file", () => {
        for (const password of HOSTILE) {
            const problem = cloudUsernameProblem("europe-west1-docker.pkg.dev", "_json_key", password, false);
            assert.equal(problem?.key, "password");
            assert.equal(findEcho(`${problem.message} ${problem.fix}`, [password]), undefined);
            try {
                validateStackConfig({ namespace: "team", registries: [{ server: "gcr.io", username: "_json_key", password }] });
                assert.fail("accepted");
            } catch (err) {
                assert.ok(err instanceof ConfigError);
                assert.equal(findEcho(`${err.message}\n${err.stack}`, [password]), undefined);
            }
        }
    });

    // Regression (fuzz seed 1096140899): the YAML parser's "Unexpected scalar token in YAML stream:
    // "<token>"" quoted a pasted password's tail in npm run check's output.
    it("a YAML error next to an unquoted password does not quote it", () => {
        const password = '0"AA: ]AA"00"0Aa"AaA';
        const text = `config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n      username: AWS\n      password: ${password}\n`;
        const findings = checkStackFile("Pulumi.fuzz.yaml", text, "fuzz");
        assert.ok(findings.some((f) => f.message === "is not valid YAML: there is an unexpected character or token"), JSON.stringify(findings));
        assert.equal(findEcho(JSON.stringify(findings), [password]), undefined);
    });

    // Regression (fuzz seed 1532938681): "Block scalar header includes extra characters: >A..."
    // quoted a password's tail without quotes.
    it("a YAML error about a block scalar header does not quote the password it is in", () => {
        const password = '00<&: >A"AA"0a0"A0"0AAA';
        const text = `config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n      username: AWS\n      password: ${password}\n`;
        const findings = checkStackFile("Pulumi.fuzz.yaml", text, "fuzz");
        assert.ok(findings.some((f) => f.message === "is not valid YAML: a block is used as a key"), JSON.stringify(findings));
        assert.equal(findEcho(JSON.stringify(findings), [password]), undefined);
    });

    // A carriage return ends a line for YAML but not for a regular expression's ".": the parser
    // quotes the source after it ("Not a YAML token: \r..."), and a cut written as /: .*$/ then
    // matched nothing and printed it all.
    it("a YAML error quoting a password after a carriage return does not print it", () => {
        const password = ">A\rsecretpw12";
        const text = `config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: registry.example.org\n      username: robot\n      password: ${password}\n`;
        const findings = checkStackFile("Pulumi.cr.yaml", text, "cr");
        assert.ok(findings.some((f) => f.message === "is not valid YAML: there is an unexpected character or token"), JSON.stringify(findings));
        assert.equal(findEcho(JSON.stringify(findings), [password]), undefined);
    });

    it("npm run check prints no part of a password, in text or --json, from a valid or a broken stack file", async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "registry-access-echo-"));
        try {
            writeFileSync(path.join(dir, "Pulumi.yaml"), "name: registry-access\nruntime: nodejs\n");
            const entries = HOSTILE.map((p) => `    - server: gcr.io\n      username: _json_key\n      password: ${JSON.stringify(p)}\n`).join("");
            writeFileSync(path.join(dir, "Pulumi.quoted.yaml"), `config:\n  registry-access:namespace: team\n  registry-access:registries:\n${entries}`);
            // Pasted in unquoted: the quotes and the colon break the YAML around the password.
            writeFileSync(path.join(dir, "Pulumi.pasted.yaml"), `config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: gcr.io\n      username: _json_key\n      password: ${ESCAPES}\n      email: "${NOT_JSON}\n`);
            writeFileSync(path.join(dir, "Pulumi.flow.yaml"), `config:\n  registry-access:namespace: team\n  registry-access:registries: [{server: gcr.io, username: _json_key, password: ${ALMOST_KEY}]\n`);
            for (const args of [[], ["--json"]]) {
                const run = await cli(args, dir);
                assert.equal(run.code, 1, run.out);
                assert.match(run.out, /Pulumi\.quoted\.yaml/);
                assert.match(run.out, /Pulumi\.pasted\.yaml/);
                assert.match(run.out, /Pulumi\.flow\.yaml/);
                const echo = findEcho(run.out, HOSTILE);
                assert.equal(echo, undefined, `printed ${JSON.stringify(echo)}`);
            }
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the program's error, its stack trace and its output carry no part of a password", async () => {
        const r = await runProgram({ namespace: "team", registries: HOSTILE.map((password, i) => ({ server: `gcr.io/p${i}`, username: "_json_key", password })) });
        assert.equal(r.error?.name, "RunError");
        assert.match(r.error?.message ?? "", /registries\[2\]\.password: is not a service account JSON key/);
        const echo = findEcho(`${r.error?.message}\n${r.error?.stack}\n${r.log}`, HOSTILE);
        assert.equal(echo, undefined, `printed ${JSON.stringify(echo)}`);
    });
});
