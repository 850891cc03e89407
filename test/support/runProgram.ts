import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { Declared, DeclaredResource } from "./mockedProgram";

export type { Declared, DeclaredResource };

export interface RunResult extends Declared {
    /** Everything the program process printed (stdout and stderr). */
    log: string;
}

/**
 * Runs the program under mocks in a fresh process with the given stack config. Keys are given
 * without the `registry-access:` prefix; structured values are passed as JSON, like Pulumi does.
 * Keys in `secretKeys` are marked secret, as Pulumi marks a key holding any `secure:` leaf.
 */
export async function runProgram(
    config: Record<string, unknown>,
    opts: { secretKeys?: string[]; stack?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
    const wire: Record<string, string> = {};
    // The cluster is asked only by the tests of imageIsolation: the others declare without one.
    for (const [k, v] of Object.entries({ imageIsolation: "off", ...config })) {
        wire[k.includes(":") ? k : `registry-access:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    const secretKeys = (opts.secretKeys ?? ("registries" in config ? ["registries"] : [])).map(
        (k) => `registry-access:${k}`,
    );
    const dir = mkdtempSync(path.join(tmpdir(), "registry-access-mocks-"));
    const out = path.join(dir, "declared.json");
    // The program asks the cluster which namespaces exist (components/namespaceOwnership.ts):
    // unless a test says which kubectl or cluster, never the machine's own, only one that refuses.
    const hermetic = opts.env?.PATH === undefined && opts.env?.KUBECONFIG === undefined ? { KUBECONFIG: refusingKubeconfig(dir) } : {};
    try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(__dirname, "mockedProgram.js")], {
            env: {
                ...process.env,
                ...hermetic,
                ...opts.env,
                MOCKED_PROGRAM_SCENARIO: JSON.stringify({ config: wire, secretKeys, stack: opts.stack ?? "dev" }),
                MOCKED_PROGRAM_OUT: out,
            },
            maxBuffer: 64 * 1024 * 1024,
        });
        const declared = JSON.parse(readFileSync(out, "utf8")) as Declared;
        return { ...declared, log: stdout + stderr };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** A kubeconfig whose API server is 127.0.0.1:1, where nothing listens: kubectl's connection is refused. */
function refusingKubeconfig(dir: string): string {
    const file = path.join(dir, "kubeconfig");
    writeFileSync(
        file,
        'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: unused}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
    );
    return file;
}

export function ofType(result: Declared, type: string): DeclaredResource[] {
    return result.resources.filter((r) => r.type === type);
}
