/**
 * What the cluster tests and the benchmark share to run this program through the Pulumi CLI, as a
 * user runs it: a copy of the project folder, the offline environment, and config set leaf by leaf
 * as `pulumi config set --path` sets it.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { parseDocument } from "yaml";

export const PROJECT = "registry-access";
/** The project's root (where Pulumi.yaml is), from this file or its compiled copy in build/deploy. */
export const ROOT = path.resolve(__dirname, existsSync(path.join(__dirname, "../Pulumi.yaml")) ? ".." : "../..");

/** Keeps the CLI off the network: plugins are the ones scripts/pulumi-toolchain.sh registered. */
export const OFFLINE_ENV = {
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
};

/** What `pulumi up` reads from the project folder besides Pulumi.yaml. */
const PROGRAM_FILES = ["index.ts", "components", "package.json", "tsconfig.json", "node_modules"];

/**
 * A copy of the project in DIR, for stacks that must not touch stacks/: Pulumi.yaml as it is
 * (or with another `main`), the program's files linked from the checkout (index.ts replaced by
 * INDEX when given), LINK (more paths of the checkout, e.g. build) and an empty stacks/.
 */
export function projectCopy(dir: string, { main, index, link = [] }: { main?: string; index?: string; link?: string[] } = {}): string {
    mkdirSync(path.join(dir, "stacks"), { recursive: true });
    if (main === undefined) {
        copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    } else {
        const doc = parseDocument(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        doc.set("main", main);
        writeFileSync(path.join(dir, "Pulumi.yaml"), doc.toString());
    }
    for (const name of [...PROGRAM_FILES, ...link]) {
        if (name === "index.ts" && index !== undefined) {
            writeFileSync(path.join(dir, name), index);
        } else {
            symlinkSync(path.join(ROOT, name), path.join(dir, name));
        }
    }
    return dir;
}

/**
 * A config value set the way `pulumi config set --path` sets it: every leaf its own path, and the
 * leaves named `password` secret, as `--secret` makes them.
 */
export function configLeaves(config: Record<string, unknown>, namespace = PROJECT): ConfigMap {
    const leaves: ConfigMap = {};
    const visit = (value: unknown, key: string, secret: boolean) => {
        const empty = typeof value === "object" && value !== null && Object.keys(value).length === 0;
        if (typeof value !== "object" || value === null || empty) {
            // An empty list or map has no leaves: it is set whole, as JSON, which the program reads as getObject does.
            const text = typeof value === "string" ? value : JSON.stringify(value);
            leaves[key] = { value: text, secret };
            return;
        }
        for (const [k, v] of Object.entries(value)) {
            const part = Array.isArray(value) ? `[${k}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
            visit(v, `${key}${part}`, secret || k === "password");
        }
    };
    for (const [k, v] of Object.entries(config)) {
        visit(v, `${namespace}:${k}`, false);
    }
    return leaves;
}
