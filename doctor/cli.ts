/**
 * `npm run doctor -- (--stack S | --namespace NS ...) [--cross-tenant] [--json]`: would every
 * workload of a stack's namespaces pull its images right now, and can any tenant pull another's?
 * Read-only. Exit 0: all pull, no leak; 1: a failure or a leak; 2: it could not look.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { askingOnce, clusterKubectl, type Kubectl, kubectlFailure } from "../components/cluster";
import { ConfigError, ENCRYPTED_PLACEHOLDER, formatProblems, type StackConfig } from "../components/config";
import { listedNamespaces, selectNamespaces } from "../components/namespaceSelection";
import { projectDir, stacksDirOf } from "../check/project";
import { stackConfigOf, yamlMessage } from "../check/stackFile";
import { readStackFile } from "../check/stackReading";
import { DoctorError, diagnose, exitCode, type Scope, table } from "./doctor";

const USAGE = `usage: npm run doctor -- (--stack STACK | --namespace NS ...) [--context CONTEXT] [--cross-tenant] [--json]
       [--ca-file PEM] [--endpoint HOST=URL ...] [--timeout MS]`;

class UsageError extends Error {}

const object = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export interface Args {
    stack?: string;
    namespaces: string[];
    context?: string;
    crossTenant: boolean;
    json: boolean;
    caFile?: string;
    endpoints: Record<string, string>;
    timeoutMs?: number;
}

export function parseArgs(argv: string[]): Args {
    const args: Args = { namespaces: [], crossTenant: false, json: false, endpoints: {} };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) {
                throw new UsageError(`${flag} needs a value`);
            }
            return v;
        };
        switch (flag) {
            case "--stack":
                args.stack = value();
                break;
            case "--namespace":
                args.namespaces.push(...value().split(",").filter((n) => n !== ""));
                break;
            case "--context":
                args.context = value();
                break;
            case "--cross-tenant":
                args.crossTenant = true;
                break;
            case "--json":
                args.json = true;
                break;
            case "--ca-file":
                args.caFile = value();
                break;
            case "--endpoint": {
                const [host, url] = value().split(/=(.*)/s);
                if (!host || !/^https?:\/\/[^/]+\/?$/.test(url ?? "")) {
                    throw new UsageError("--endpoint takes HOST=http(s)://HOST[:PORT], where the nodes reach that registry");
                }
                args.endpoints[host] = url.replace(/\/$/, "");
                break;
            }
            case "--timeout": {
                const ms = Number(value());
                // Node's timers hold at most 2^31 - 1 ms.
                if (!Number.isSafeInteger(ms) || ms <= 0 || ms > 2_147_483_647) {
                    throw new UsageError("--timeout takes milliseconds, a whole number from 1 to 2147483647");
                }
                args.timeoutMs = ms;
                break;
            }
            default:
                throw new UsageError(`unknown argument ${flag}`);
        }
    }
    if ((args.stack === undefined) === (args.namespaces.length === 0)) {
        throw new UsageError("give --stack or --namespace (one of the two)");
    }
    return args;
}

/** The folder of the stack files: Pulumi.yaml's `stackConfigDir`, from here or above. */
function stacksDir(): string {
    const dir = projectDir(process.cwd());
    if (dir === undefined) {
        throw new UsageError("no Pulumi.yaml here or above: run it in the project, or use --namespace");
    }
    return stacksDirOf(dir, (parse(readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) ?? {}) as { stackConfigDir?: unknown });
}

/**
 * The provider's cluster settings in a stack file. A `secure:` kubeconfig is decrypted by
 * `pulumi config get` (the stack's secrets provider and backend), and kept in memory only.
 */
function providerSettings(stack: string, config: Record<string, unknown>): { kubeconfig?: string; context?: string; cluster?: string } {
    const plain = (key: string) => (typeof config[key] === "string" ? (config[key] as string) : undefined);
    let kubeconfig = plain("kubernetes:kubeconfig");
    if (kubeconfig === undefined && typeof config["kubernetes:kubeconfig"] === "object" && config["kubernetes:kubeconfig"] !== null) {
        try {
            // The CLI prints the value and a newline.
            kubeconfig = execFileSync("pulumi", ["config", "get", "kubernetes:kubeconfig", "--stack", stack], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).replace(/\n$/, "");
        } catch {
            throw new DoctorError(`cannot decrypt kubernetes:kubeconfig of stack ${stack} (pulumi config get failed: log in to its backend and give its passphrase or secrets provider)`);
        }
    }
    return { kubeconfig, context: plain("kubernetes:context"), cluster: plain("kubernetes:cluster") };
}

/** The stack's namespaces: those it names, and those its selectors match now. */
async function stackScopes(stack: string, kubectl: Kubectl, config: StackConfig): Promise<Scope[]> {
    let namespaces: ReturnType<typeof listedNamespaces> = [];
    if (config.selected.length > 0) {
        const r = await kubectl(["get", "namespaces", "-o", "json"]);
        namespaces = r.code === 0 ? listedNamespaces(r.stdout) : undefined;
        if (namespaces === undefined) {
            throw new DoctorError(`cannot list the cluster's namespaces for the stack's namespaceSelector (${r.code === 0 ? "not a list" : kubectlFailure(r)})`);
        }
    }
    const selection = selectNamespaces(config, namespaces, new Map(), stack);
    if (selection.problems.length > 0) {
        throw new DoctorError(formatProblems(selection.problems));
    }
    return selection.tenants.map((t) => ({ namespace: t.namespace, tenant: t.selectedBy ?? (t.path || t.namespace) }));
}

async function main(argv: string[]): Promise<number> {
    if (argv.includes("--help")) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    const args = parseArgs(argv);
    let kubectl: Kubectl;
    let scopes: Scope[];
    let stackCa: string | undefined;
    if (args.stack !== undefined) {
        const file = path.join(stacksDir(), `Pulumi.${args.stack}.yaml`);
        if (!existsSync(file)) {
            throw new UsageError(`no stack file ${path.relative(process.cwd(), file)}`);
        }
        const text = readFileSync(file, "utf8");
        // Read as npm run check reads it: a YAML error is told without quoting the file.
        const reading = readStackFile(text);
        if (reading.errors.length > 0) {
            throw new DoctorError(`${path.relative(process.cwd(), file)} cannot be read: ${yamlMessage(reading.errors[0])} (npm run check -- ${args.stack} shows where)`);
        }
        const settings = providerSettings(args.stack, object(object(reading.doc.toJS()).config));
        kubectl = askingOnce(clusterKubectl({ ...settings, ...(args.context ? { context: args.context } : {}) }));
        const config = stackConfigOf(text);
        scopes = await stackScopes(args.stack, kubectl, config);
        // The registries' private CA, as the stack's verifyCredentials trusts it (a secret one stays unread).
        stackCa = config.caBundle !== undefined && config.caBundle !== ENCRYPTED_PLACEHOLDER ? config.caBundle : undefined;
    } else {
        kubectl = askingOnce(clusterKubectl({ context: args.context }));
        scopes = args.namespaces.map((namespace) => ({ namespace, tenant: namespace }));
    }
    let caFile: string | undefined;
    try {
        caFile = args.caFile === undefined ? undefined : readFileSync(args.caFile, "utf8");
    } catch {
        throw new UsageError(`cannot read --ca-file ${args.caFile}`);
    }
    const caBundle = [stackCa, caFile].filter((c) => c !== undefined).join("\n") || undefined;
    const started = Date.now();
    const report = await diagnose(kubectl, scopes, { crossTenant: args.crossTenant, probe: { caBundle, endpoints: args.endpoints, timeoutMs: args.timeoutMs } });
    const seconds = (Date.now() - started) / 1000;
    if (args.json) {
        process.stdout.write(`${JSON.stringify({ namespaces: [...new Set(scopes.map((s) => s.namespace))].sort(), ...report, seconds }, null, 2)}\n`);
    } else {
        process.stdout.write(table(report));
        process.stderr.write(`doctor: ${new Set(scopes.map((s) => s.namespace)).size} namespaces in ${seconds.toFixed(1)} s\n`);
    }
    return exitCode(report);
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (err: unknown) => {
            if (err instanceof UsageError) {
                process.stderr.write(`doctor: ${err.message}\n${USAGE}\n`);
            } else if (err instanceof DoctorError || err instanceof ConfigError) {
                process.stderr.write(`doctor: ${err.message}\n`);
            } else {
                // Not its message: an unforeseen error may quote what it was reading.
                process.stderr.write(`doctor: stopped on an unexpected ${err instanceof Error ? err.name : "error"}; nothing was checked\n`);
            }
            process.exitCode = 2;
        },
    );
}
