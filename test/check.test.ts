import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

function check(args: string[], cwd = ROOT): Promise<Run> {
    return new Promise((resolve) => {
        execFile(process.execPath, [CLI, ...args], { cwd }, (err, stdout, stderr) =>
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

    // One run over the whole corpus (each file is checked on its own, and every line names its
    // file), so a mutation run starts one process here rather than one per case.
    before(async () => {
        assert.ok(cases.length >= 30, `corpus has ${cases.length} stack files`);
        const all = await check(cases.map((c) => `${CORPUS}/${c}`));
        assert.equal(all.code, 1, all.stderr);
        assert.match(all.stderr, new RegExp(`in ${cases.length} file\\(s\\)\n$`));
        const lines = all.stdout.split(/(?<=\n)/);
        assert.deepEqual(lines.filter((l) => !cases.some((c) => l.startsWith(`${CORPUS}/${c}:`))), [], "a line names no case");
        for (const c of cases) {
            runs.set(c, { ...all, stdout: lines.filter((l) => l.startsWith(`${CORPUS}/${c}:`)).join("") });
        }
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
        assert.equal(missing.stdout, "stacks/Pulumi.qa.yaml:1:1 (file): does not exist (fix: create it with pulumi stack init, or check the name)\n");
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

    it("exits 2 on a usage error, naming the option", async () => {
        const run = await check(["--frobnicate", "dev", "-x"]);
        assert.equal(run.code, 2);
        assert.equal(run.stdout, "");
        assert.equal(run.stderr, "check: unknown option --frobnicate -x\nusage: npm run check -- [--json] [stack|file.yaml ...]\n");
    });

    it("prints its usage on --help", async () => {
        const run = await check(["--help"]);
        assert.equal(run.code, 0);
        assert.equal(run.stdout, "usage: npm run check -- [--json] [stack|file.yaml ...]\n");
    });

    describe("in a project of its own (a temp folder)", () => {
        const VALID = "config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: registry.example.org\n      username: puller\n      generatePassword:\n        length: 24\n";
        let dir = "";
        beforeEach(() => {
            dir = mkdtempSync(path.join(tmpdir(), "registry-access-check-"));
        });
        afterEach(() => rmSync(dir, { recursive: true, force: true }));
        const write = (files: Record<string, string>) => {
            for (const [name, text] of Object.entries(files)) {
                mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
                writeFileSync(path.join(dir, name), text);
            }
        };

        // `pulumi stack init prod.eu` is a valid stack, whose file is Pulumi.prod.eu.yaml.
        it("checks a stack whose name has a dot with no arguments, and names it in the fixes", async () => {
            write({
                "Pulumi.yaml": "name: registry-access\nruntime: nodejs\n",
                "Pulumi.prod.eu.yaml": "config:\n  registry-access:namespace: Bad_NS\n  registry-access:registries:\n    - server: registry.example.org\n      username: puller\n      password: plaintext-one\n",
            });
            const run = await check([], dir);
            assert.equal(run.code, 1, run.stderr);
            assert.match(run.stdout, /^Pulumi\.prod\.eu\.yaml:2:3 namespace: is not a DNS-1123 label/m);
            assert.match(run.stdout, /^Pulumi\.prod\.eu\.yaml:6:17 registries\[0\]\.password: is a password in plaintext \(fix: pulumi config set --stack prod\.eu --secret/m);
            assert.ok(!run.stdout.includes("plaintext-one"));
        });

        it("finds Pulumi.yaml from a subfolder, and the stack files beside it without stackConfigDir, Pulumi.<stack>.yaml only", async () => {
            write({
                "Pulumi.yaml": "name: registry-access\nruntime: nodejs\n",
                "Pulumi.b.yaml": VALID,
                "Pulumi.a.yaml": VALID,
                "Pulumi.c.yml": "not: [checked",
                "Pulumi.d.e.yaml": VALID,
                "notes.yaml": "not: [checked",
                "Pulumi.old.yaml.bak": "not: [checked",
                "backup-Pulumi.x.yaml": "not: [checked",
                "sub/deeper/.keep": "",
            });
            const run = await check(["--json"], path.join(dir, "sub/deeper"));
            assert.equal(run.code, 0, run.stdout);
            assert.deepEqual(JSON.parse(run.stdout), { files: ["../../Pulumi.a.yaml", "../../Pulumi.b.yaml", "../../Pulumi.d.e.yaml"], problems: [] });
            const text = await check([], path.join(dir, "sub/deeper"));
            assert.equal(text.stderr, "ok: 3 stack file(s) valid\n");
            const one = await check(["Pulumi.a.yaml"], dir);
            assert.equal(one.stderr, "ok: 1 stack file(s) valid\n");
        });

        it("names the stack in its fixes, from Pulumi.<stack>.yaml or, for another file name, the name itself", async () => {
            const noNamespace = "config:\n  registry-access:registries: []\n";
            write({ "Pulumi.yaml": "name: registry-access\n", "Pulumi.qa.yaml": noNamespace, "backup-Pulumi.qa.yaml": noNamespace, "Pulumi.qa.yaml.bak": noNamespace });
            const named = await check(["qa"], dir);
            assert.match(named.stdout, /^Pulumi\.qa\.yaml:\d+:\d+ namespace: .*\(fix: .*pulumi config set --stack qa --path 'namespace' <name>\)$/m);
            const other = await check(["./backup-Pulumi.qa.yaml"], dir);
            assert.match(other.stdout, /\(fix: .*pulumi config set --stack backup-Pulumi\.qa --path 'namespace' <name>\)$/m);
            const copy = await check(["./Pulumi.qa.yaml.bak"], dir);
            assert.match(copy.stdout, /\(fix: .*pulumi config set --stack Pulumi\.qa\.yaml\.bak --path 'namespace' <name>\)$/m);
        });

        it("checks Pulumi.yaml itself: its YAML and its name", async () => {
            write({ "Pulumi.yaml": "name: other-project\n", "Pulumi.dev.yaml": VALID });
            assert.equal((await check([], dir)).stdout, "Pulumi.yaml:1:1 name: must be registry-access: it is the namespace of every config key (fix: set name: registry-access)\n");
            // A file that cannot be read is that one problem, where the parser says: nothing about its name.
            write({ "Pulumi.yaml": "runtime: nodejs\nname: [registry-access\n" });
            const run = await check([], dir);
            assert.equal(run.code, 1);
            assert.match(run.stdout, /^Pulumi\.yaml:3:1 \(file\): is not valid YAML: .+ \(fix: fix the YAML syntax\)\n$/);
            assert.match(run.stderr, /^1 problem\(s\) in 1 file\(s\)\n$/);
        });

        it("exits 2 outside a project, and in a project without stack files", async () => {
            const outside = await check([], dir);
            assert.equal(outside.code, 2);
            assert.match(outside.stderr, /^check: no Pulumi\.yaml here or above: run it in the project\n/);
            write({ "Pulumi.yaml": "name: registry-access\nstackConfigDir: stacks\n", "stacks/README.md": "" });
            const empty = await check([], dir);
            assert.equal(empty.code, 2);
            assert.match(empty.stderr, new RegExp(`^check: no stack files \\(Pulumi\\.<stack>\\.yaml\\) in ${path.join(dir, "stacks")}\n`));
        });
    });
});
