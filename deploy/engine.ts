/**
 * What the cluster tests and the benchmark share to run this program on the real engine through
 * the Automation API: the project's root and settings, the offline environment, and config set
 * leaf by leaf as `pulumi config set --path` sets it.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { ConfigMap, ProjectSettings } from "@pulumi/pulumi/automation";
import { parse } from "yaml";

export const PROJECT = "registry-access";
/** The project's root (where Pulumi.yaml is), from this file or its compiled copy in build/deploy. */
export const ROOT = path.resolve(__dirname, existsSync(path.join(__dirname, "../Pulumi.yaml")) ? ".." : "../..");

/** Keeps the CLI off the network: plugins are the ones scripts/pulumi-toolchain.sh registered. */
export const OFFLINE_ENV = {
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
};

/**
 * Pulumi.yaml's settings for a stack kept elsewhere: the same runtime and config (the provider
 * settings among them), without the backend, the stack config folder and the entry point.
 */
export function projectSettings(): ProjectSettings {
    const settings = parse(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as ProjectSettings & { stackConfigDir?: string };
    delete settings.backend;
    delete settings.stackConfigDir;
    delete settings.main;
    return settings;
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
