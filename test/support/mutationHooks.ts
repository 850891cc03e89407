/**
 * Mocha root hooks (.mocharc.json `require`) for mutation testing (npm run mutate, Stryker).
 * Outside Stryker they do nothing.
 *
 * Many tests run the program or the check CLI in a child process, which Stryker's mocha runner
 * does not see:
 * - it activates a mutant through an in-process global only, while instrumented code in a child
 *   reads it from the environment variable __STRYKER_ACTIVE_MUTANT__: copied there before every
 *   hook and test, so children run the same mutant;
 * - its per-test coverage counts only this process: children write theirs to a folder on exit
 *   (childCoverage.ts), which is added here to the test that ran them. Children a suite's
 *   `before` hook ran count for every test of that file's suite, since any of them may assert
 *   on what the hook produced; so does in-process coverage recorded between tests (Stryker would
 *   otherwise book it to the previous test, in another suite).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Context, Suite } from "mocha";

type Counts = Record<string, number>;
interface Coverage {
    static: Counts;
    perTest: Record<string, Counts>;
}
interface Instrumentation {
    activeMutant?: string;
    currentTestId?: string;
    mutantCoverage?: Coverage;
}

const ACTIVE_MUTANT = "__STRYKER_ACTIVE_MUTANT__";
export const CHILD_COVERAGE_DIR = "REGISTRY_ACCESS_CHILD_COVERAGE_DIR";
const BETWEEN_TESTS = "(between tests)";

const stryker = (): Instrumentation | undefined => (globalThis as { __stryker__?: Instrumentation }).__stryker__;

function syncActiveMutant(): void {
    const active = stryker()?.activeMutant;
    if (active === undefined) {
        delete process.env[ACTIVE_MUTANT];
    } else {
        process.env[ACTIVE_MUTANT] = active;
    }
}

/** The coverage of Stryker's dry run (no mutant active), or undefined outside it. */
function measuredCoverage(): Coverage | undefined {
    const ns = stryker();
    return ns && ns.activeMutant === undefined ? (ns.mutantCoverage ??= { static: {}, perTest: {} }) : undefined;
}

let coverageDir: string | undefined;

function startChildCoverage(): void {
    if (coverageDir !== undefined || stryker() === undefined) {
        return;
    }
    coverageDir = mkdtempSync(path.join(tmpdir(), "registry-access-coverage-"));
    process.env[CHILD_COVERAGE_DIR] = coverageDir;
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --require ${path.join(__dirname, "childCoverage.js")}`.trim();
    process.on("exit", () => rmSync(coverageDir!, { recursive: true, force: true }));
}

/** The mutant hit counts the children wrote since the last call, summed; the files are removed. */
function takeChildCoverage(): Counts {
    const sum: Counts = {};
    for (const file of coverageDir ? readdirSync(coverageDir) : []) {
        const full = path.join(coverageDir!, file);
        const coverage = JSON.parse(readFileSync(full, "utf8")) as Coverage | null;
        rmSync(full);
        for (const counts of coverage ? [coverage.static, ...Object.values(coverage.perTest)] : []) {
            add(sum, counts);
        }
    }
    return sum;
}

function add(into: Counts, counts: Counts | undefined): void {
    for (const [id, n] of Object.entries(counts ?? {})) {
        into[id] = (into[id] ?? 0) + n;
    }
}

/** The outermost suite below the root: one test file's `describe`. */
function fileSuite(suite: Suite): Suite {
    let s = suite;
    while (s.parent && !s.parent.root) {
        s = s.parent;
    }
    return s;
}

export const mochaHooks = {
    beforeAll(): void {
        syncActiveMutant();
        startChildCoverage();
    },
    beforeEach(this: Context): void {
        syncActiveMutant();
        const coverage = measuredCoverage();
        const test = this.currentTest;
        if (!coverage || !test?.parent) {
            return;
        }
        // What ran since the previous test: this file's `before` hooks (and the last file's `after` hooks).
        const between: Counts = { ...coverage.perTest[BETWEEN_TESTS] };
        delete coverage.perTest[BETWEEN_TESTS];
        add(between, takeChildCoverage());
        if (Object.keys(between).length > 0) {
            fileSuite(test.parent).eachTest((t) => add((coverage.perTest[t.fullTitle()] ??= {}), between));
        }
        stryker()!.currentTestId = test.fullTitle();
    },
    afterEach(this: Context): void {
        const coverage = measuredCoverage();
        const test = this.currentTest;
        if (!coverage || !test) {
            return;
        }
        add((coverage.perTest[test.fullTitle()] ??= {}), takeChildCoverage());
        stryker()!.currentTestId = BETWEEN_TESTS;
    },
    afterAll(): void {
        // After the last test: whatever still ran counts for no test in particular, so for all.
        const coverage = measuredCoverage();
        if (coverage) {
            add(coverage.static, coverage.perTest[BETWEEN_TESTS]);
            delete coverage.perTest[BETWEEN_TESTS];
            add(coverage.static, takeChildCoverage());
        }
    },
};
