import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fromPulumiConfig, validateStackConfig } from "../components/config";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(ROOT, "build/check/cli.js");
const CORPUS = "test/check-corpus";

interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

function check(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
        execFile(process.execPath, [CLI, ...args], { cwd: ROOT }, (err, stdout, stderr) =>
            resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
        );
    });
}

// Plaintext passwords written into the corpus: they must never be printed.
const PLAINTEXT = ["hunter2-plaintext", "plaintext-one"];

describe("npm run check (the offline stack check, end to end)", function () {
    this.timeout(60000);
    const cases = readdirSync(path.join(ROOT, CORPUS)).filter((f) => f.endsWith(".yaml")).sort();
    const runs = new Map<string, Run>();

    before(async () => {
        assert.ok(cases.length >= 30, `corpus has ${cases.length} stack files`);
        const results = await Promise.all(cases.map((c) => check([`${CORPUS}/${c}`])));
        cases.forEach((c, i) => runs.set(c, results[i]));
    });

    it("passes on the real stacks/", async () => {
        const run = await check([]);
        assert.equal(run.stdout, "");
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, /^ok: 4 stack file\(s\) valid/);
    });

    for (const c of readdirSync(path.join(ROOT, CORPUS)).filter((f) => f.endsWith(".yaml")).sort()) {
        it(`catches ${c.replace(/\.yaml$/, "")} with the expected message`, () => {
            const run = runs.get(c)!;
            const expected = readFileSync(path.join(ROOT, CORPUS, c.replace(/\.yaml$/, ".expected")), "utf8");
            assert.equal(run.code, 1, run.stderr);
            assert.ok(expected.length > 0, "an empty expectation proves nothing");
            assert.equal(run.stdout, expected);
            for (const line of run.stdout.trimEnd().split("\n")) {
                assert.match(line, /^test\/check-corpus\/[\w.-]+\.yaml:\d+:\d+ \S+: .+ \(fix: .+\)$/);
            }
            for (const secret of PLAINTEXT) {
                assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), "a password was printed");
            }
        });
    }

    it("reports every problem in every file at once", async () => {
        const run = await check([`${CORPUS}/01-plaintext-password.yaml`, `${CORPUS}/39-many-problems-at-once.yaml`]);
        assert.equal(run.code, 1);
        const files = new Set(run.stdout.trimEnd().split("\n").map((l) => l.split(":")[0]));
        assert.deepEqual([...files], [`${CORPUS}/01-plaintext-password.yaml`, `${CORPUS}/39-many-problems-at-once.yaml`]);
        assert.match(run.stderr, /^11 problem\(s\) in 2 file\(s\)/);
    });

    it("names stacks by their stack name", async () => {
        const run = await check(["dev", "prod"]);
        assert.equal(run.code, 0, run.stdout);
        assert.match(run.stderr, /ok: 2 stack file/);
        const missing = await check(["qa"]);
        assert.equal(missing.code, 1);
        assert.match(missing.stdout, /^stacks\/Pulumi\.qa\.yaml:1:1 \(file\): does not exist/);
    });

    it("reads a registry list written as a JSON string as the program does (pulumi config set registries '[...]')", async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "registry-access-json-"));
        try {
            const list = [{ server: "registry.example.org", username: "puller", generatePassword: { length: 24 } }];
            const file = path.join(dir, "Pulumi.json.yaml");
            writeFileSync(file, `config:\n  registry-access:namespace: xnat-jobs\n  registry-access:registries: '${JSON.stringify(list)}'\n`);
            const run = await check([file]);
            assert.equal(run.code, 0, run.stdout);
            // The program, given the same string as Pulumi passes it, accepts it too.
            const config = validateStackConfig(fromPulumiConfig({ "registry-access:namespace": "xnat-jobs", "registry-access:registries": JSON.stringify(list) }));
            assert.deepEqual(config.tenants[0].registries.map((r) => r.server), ["registry.example.org"]);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("has JSON output for pipelines", async () => {
        const run = await check(["--json", `${CORPUS}/04-username-with-colon.yaml`]);
        assert.equal(run.code, 1);
        const out = JSON.parse(run.stdout) as { files: string[]; problems: Record<string, unknown>[] };
        assert.deepEqual(out.files, [`${CORPUS}/04-username-with-colon.yaml`]);
        assert.deepEqual(Object.keys(out.problems[0]).sort(), ["column", "file", "fix", "line", "message", "path"]);
        assert.equal(out.problems[0].path, "registries[0].username");
        assert.equal(out.problems[0].line, 6);
    });

    it("exits 2 on a usage error", async () => {
        const run = await check(["--frobnicate"]);
        assert.equal(run.code, 2);
        assert.match(run.stderr, /usage: npm run check/);
    });
});
