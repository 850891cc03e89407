/**
 * One measured run: declares a program under Pulumi's mocks in this fresh process (the runtime's
 * state is process-global) and writes its timings to the file named on the command line.
 *
 *   node build/bench/child.js <program|baseline|bare> <namespaces> <registries> <result.json>
 *
 * The program is required inside runInPulumiStack, as Pulumi's own runner does, so both the
 * module load and the declarations are timed.
 */
import * as pulumi from "@pulumi/pulumi";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { benchConfig, declaredPerTenant, PROJECT, STACK } from "./scenario";

export type Mode = "program" | "baseline" | "bare";

export interface ChildResult {
    mode: Mode;
    namespaces: number;
    registries: number;
    /** Kubernetes resources declared (Namespaces, Secrets, ServiceAccount patches). */
    declared: number;
    /** Requiring the program: its modules and their imports. */
    loadMs: number;
    /** From just before requiring the program to the last Kubernetes resource reaching the monitor. */
    registeredMs: number;
    /** From the same start until the program returned and no RPC is pending (stack outputs included). */
    settledMs: number;
    /** process.hrtime.bigint() when the first resource the program declares reached the monitor. */
    firstResourceAt: string;
    /** Peak resident set size of the process, in kilobytes. */
    maxRssKb: number;
}

const PROGRAMS: Record<Mode, string> = {
    program: path.join(__dirname, "..", "index"),
    baseline: path.join(__dirname, "baseline"),
    bare: path.join(__dirname, "bare"),
};
const KUBERNETES_TYPES = new Set([
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:ServiceAccountPatch",
]);

async function main(): Promise<void> {
    const [modeArg, namespacesArg, registriesArg, resultFile] = process.argv.slice(2);
    if (!(modeArg in PROGRAMS) || !resultFile) {
        throw new Error("usage: child.js <program|baseline|bare> <namespaces> <registries> <result.json>");
    }
    const mode = modeArg as Mode;
    const namespaces = Number(namespacesArg);
    const registries = Number(registriesArg);
    // The bare program declares one Namespace whatever the config says.
    const expected = mode === "bare" ? 1 : namespaces * declaredPerTenant(registries);

    let declared = 0;
    let registeredAt = 0;
    let firstResourceAt: bigint | undefined;
    await pulumi.runtime.setMocks(
        {
            // As cheap as a mock can be, and the same for every program: state is the inputs.
            newResource(args) {
                // The root Stack is the runner's, registered before the program has loaded.
                if (firstResourceAt === undefined && args.type !== "pulumi:pulumi:Stack") {
                    firstResourceAt = process.hrtime.bigint();
                }
                if (KUBERNETES_TYPES.has(args.type) && ++declared === expected) {
                    registeredAt = performance.now();
                }
                return { id: args.custom ? args.name : undefined, state: args.inputs };
            },
            call(args) {
                throw new Error(`unexpected invoke ${args.token}`);
            },
        },
        PROJECT,
        STACK,
        false,
    );
    const { config, secretKeys } = benchConfig(namespaces, registries);
    pulumi.runtime.setAllConfig(config, secretKeys);

    let start = 0;
    let loaded = 0;
    await pulumi.runtime.runInPulumiStack(async () => {
        start = performance.now();
        const program = require(PROGRAMS[mode]) as () => Promise<Record<string, unknown>>;
        loaded = performance.now();
        return program();
    });
    // Not in the typings, but exported: what Pulumi's runner awaits before the process ends.
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    const settled = performance.now();
    if (declared !== expected || firstResourceAt === undefined) {
        throw new Error(`${mode} declared ${declared} Kubernetes resources, expected ${expected}`);
    }

    const result: ChildResult = {
        mode,
        namespaces,
        registries,
        declared,
        loadMs: loaded - start,
        registeredMs: registeredAt - start,
        settledMs: settled - start,
        firstResourceAt: firstResourceAt.toString(),
        maxRssKb: process.resourceUsage().maxRSS,
    };
    writeFileSync(resultFile, JSON.stringify(result));
}

main().catch((err) => {
    process.stderr.write(`benchmark run failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
});
