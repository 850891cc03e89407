/** Where a project and its stack files are, for the CLIs run inside it (check, doctor). */
import { existsSync } from "node:fs";
import * as path from "node:path";

/** The folder holding Pulumi.yaml: `from` or one above it; undefined when there is none. */
export function projectDir(from: string): string | undefined {
    for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
        if (existsSync(path.join(dir, "Pulumi.yaml"))) {
            return dir;
        }
        if (dir === path.dirname(dir)) {
            return undefined;
        }
    }
}

/** The folder of a project's stack files: Pulumi.yaml's `stackConfigDir`, or the project's own. */
export function stacksDirOf(dir: string, project: { stackConfigDir?: unknown }): string {
    return typeof project.stackConfigDir === "string" ? path.join(dir, project.stackConfigDir) : dir;
}
