/**
 * The shared state backends of scripts/local-backends.sh (a real S3 server and PostgreSQL) as
 * the team tests use them: the env a stack deploys with, and everything each backend holds, for
 * the leak checks and for listing lock files.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { parseEnv } from "node:util";

export interface Backend {
    name: "s3" | "postgres";
    /** PULUMI_BACKEND_URL and the credentials it needs. */
    env: Record<string, string>;
    /** Every object or row the backend holds: its key and its bytes as text. */
    contents(): Promise<{ key: string; text: string }[]>;
    /** Stops the server, keeping its data (as a restart of its host would). */
    stop(): Promise<void>;
    start(): Promise<void>;
}

const SCRIPT = path.resolve(__dirname, "../../../../scripts/local-backends.sh");

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) {
                reject(new Error(`${cmd} ${args[0]} failed: ${stderr}`));
            } else {
                resolve(stdout);
            }
        });
    });
}

function filesUnder(dir: string, root = dir): { key: string; text: string }[] {
    return readdirSync(dir).flatMap((entry) => {
        const p = path.join(dir, entry);
        return statSync(p).isDirectory() ? filesUnder(p, root) : [{ key: path.relative(root, p), text: readFileSync(p, "latin1") }];
    });
}

/** Both backends, from the env file LOCAL_BACKENDS_ENV names. */
export function loadBackends(): Backend[] {
    const file = process.env.LOCAL_BACKENDS_ENV;
    if (!file) {
        throw new Error("LOCAL_BACKENDS_ENV is not set; start the backends first: export LOCAL_BACKENDS_ENV=$(scripts/local-backends.sh up | tail -1)");
    }
    const e = parseEnv(readFileSync(file, "utf8")) as Record<string, string>;
    const control = (what: "stop" | "start", name: string) => async () => void (await run("bash", [SCRIPT, what, name]));
    return [
        {
            name: "s3",
            env: {
                PULUMI_BACKEND_URL: e.S3_BACKEND_URL,
                AWS_ACCESS_KEY_ID: e.AWS_ACCESS_KEY_ID,
                AWS_SECRET_ACCESS_KEY: e.AWS_SECRET_ACCESS_KEY,
                AWS_CA_BUNDLE: e.AWS_CA_BUNDLE,
            },
            // The posix backend keeps each object as a file named by its key.
            contents: () => Promise.resolve(filesUnder(e.S3_BUCKET_DIR)),
            stop: control("stop", "s3"),
            start: control("start", "s3"),
        },
        {
            name: "postgres",
            env: { PULUMI_BACKEND_URL: e.POSTGRES_BACKEND_URL },
            contents: async () => {
                // One row per line: key, a tab, the JSON document (psql's unaligned output).
                const out = await run("psql", [e.POSTGRES_BACKEND_URL, "-XtA", "-F", "\t", "-c", "SELECT key, data::text FROM pulumi_state ORDER BY key"]);
                return out
                    .split("\n")
                    .filter(Boolean)
                    .map((line) => {
                        const tab = line.indexOf("\t");
                        return { key: line.slice(0, tab), text: line.slice(tab + 1) };
                    });
            },
            stop: control("stop", "postgres"),
            start: control("start", "postgres"),
        },
    ];
}

/** The keys of the lock files the backend holds for STACK (`.pulumi/locks/<org>/<project>/<stack>/`). */
export async function lockKeys(backend: Backend, stack: string): Promise<string[]> {
    return (await backend.contents()).map((c) => c.key).filter((k) => k.includes("/locks/") && k.split("/").includes(stack));
}
