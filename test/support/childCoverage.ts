/**
 * Preloaded (NODE_OPTIONS --require) into the child processes tests start during Stryker's
 * coverage run (see mutationHooks.ts): on exit, writes the child's mutant coverage to the folder
 * the parent named, for the parent to add to the test that ran the child.
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";

const dir = process.env.REGISTRY_ACCESS_CHILD_COVERAGE_DIR;
if (dir) {
    process.on("exit", () => {
        const coverage = (globalThis as { __stryker__?: { mutantCoverage?: unknown } }).__stryker__?.mutantCoverage;
        if (coverage) {
            writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(coverage));
        }
    });
}
