/**
 * The tools each pipeline step needs, against what it has: `npm test` (the README's test command,
 * and the pipelines' test jobs) needs Node, kubectl and openssl only; actionlint, which needs Go
 * and shellcheck, runs in `npm run lint:workflows`, from .ci/run and from a GitHub job that sets
 * up Go; a GitLab job that needs kubectl (npm test, pulumi, the reconcile) installs it. test/jobs/
 * (npm run test:jobs) runs the GitLab jobs for real with their image's tools only.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "../..");
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const lines = (v: unknown): string[] => (Array.isArray(v) ? v.flat(10).map(String) : v === undefined ? [] : [String(v)]);

const scripts = obj(JSON.parse(read("package.json")).scripts) as Record<string, string>;

/** The package.json scripts NAME runs, itself included, through `npm run X` and `npm test`. */
function reachable(name: string, seen = new Set<string>()): Set<string> {
    if (seen.has(name)) return seen;
    seen.add(name);
    const body = scripts[name] ?? "";
    for (const m of body.matchAll(/\bnpm\s+(?:run(?:-script)?\s+(?:--silent\s+)?([\w:.-]+)|(test)\b)/g)) reachable(m[1] ?? m[2], seen);
    return seen;
}

/** What a script line needs that Node and npm do not bring: its own scripts' text included. */
function text(name: string): string {
    const body = scripts[name] ?? "";
    const files = [...body.matchAll(/\bbash\s+(scripts\/[\w./-]+\.sh)/g)].map((m) => read(m[1]));
    return [body, ...files].join("\n");
}

describe("CI tools: what each step needs", () => {
    it("npm test needs neither Go nor shellcheck (actionlint is lint:workflows)", () => {
        for (const name of reachable("test")) {
            assert.doesNotMatch(text(name), /actionlint|shellcheck|find_go|go_build|\bgo build\b/, `npm test runs "${name}", which needs Go or shellcheck`);
        }
        assert.ok(reachable("test").has("lint"), "npm test no longer lints");
        assert.match(scripts["lint:workflows"] ?? "", /scripts\/actionlint\.sh/, "no lint:workflows running scripts/actionlint.sh");
    });

    it("actionlint still runs: in .ci/run, and in a GitHub job that sets up Go first", () => {
        assert.match(read(".ci/run"), /^\s*npm run lint:workflows\b/m, ".ci/run does not run npm run lint:workflows");
        const jobs = obj(parse(read(".github/workflows/deploy.yml")).jobs);
        const runsLint = (s: unknown) => /\bnpm run lint:workflows\b/.test(String(obj(s).run ?? ""));
        const linting = Object.entries(jobs).filter(([, job]) => ((obj(job).steps as unknown[] | undefined) ?? []).some(runsLint));
        assert.equal(linting.length, 1, "expected one GitHub job running npm run lint:workflows");
        const steps = (obj(linting[0][1]).steps as Obj[]).map(obj);
        const go = steps.findIndex((s) => String(s.uses ?? "").startsWith("actions/setup-go@"));
        const lint = steps.findIndex(runsLint);
        assert.ok(go >= 0 && go < lint, `${linting[0][0]}: no actions/setup-go step before npm run lint:workflows`);
        assert.equal(obj(steps[go].with)["go-version-file"], "toolchain/actionlint/go.mod", "setup-go should take Go's version from actionlint's wrapper module");
    });

    it("every GitLab job that runs npm test, pulumi or the reconcile installs kubectl first, onto its PATH", () => {
        const ci = parse(read(".gitlab-ci.yml")) as Obj;
        const reserved = new Set(["stages", "variables", "default", "workflow", "include", "image", "services", "cache", "before_script", "after_script"]);
        const resolve = (name: string): Obj => {
            const job = obj(ci[name]);
            const inherited = lines(job.extends).reduce<Obj>((acc, parent) => ({ ...acc, ...resolve(parent) }), {});
            return { ...inherited, ...job };
        };
        for (const name of Object.keys(ci).filter((k) => !reserved.has(k) && !k.startsWith("."))) {
            const job = resolve(name);
            const commands = [...lines("before_script" in job ? job.before_script : obj(ci.default).before_script), ...lines(job.script)];
            // The reconcile script runs pulumi's preview and up, and asks kubectl itself.
            const needs = commands.findIndex((c) => /\bnpm (test|run test:unit)\b|\bpulumi\s+(preview|up)\b|\bbuild\/deploy\/reconcile\.js\b/.test(c));
            if (needs < 0) continue;
            const install = commands.findIndex((c) => /scripts\/ci-kubectl\.sh\s+"?([^"\s]+)/.test(c));
            assert.ok(install >= 0 && install < needs, `${name}: no scripts/ci-kubectl.sh before "${commands[needs]}"`);
            const dir = (/scripts\/ci-kubectl\.sh\s+"?([^"\s]+)/.exec(commands[install])?.[1] ?? "").replace(/^\.\//, "");
            // An absolute entry: a relative one would break at the first cd.
            const entry = /^[/$]/.test(dir) ? dir : `$PWD/${dir}`;
            assert.ok(commands.slice(0, needs).includes(`export PATH="${entry}:$PATH"`), `${name}: no export PATH="${entry}:$PATH" before "${commands[needs]}"`);
        }
    });
});
