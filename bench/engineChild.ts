/**
 * One measured operation in process: `up`, `preview` or `destroy` of a stack that bench/engine.ts
 * has set up, with this program (index.ts) or the bare one (bench/baseline.ts) as the Automation
 * API's inline program, the way the project deployed before it had the CLI's language host: the
 * "in-process" lever, measured beside the CLI. Writes its marks and the change summary to the
 * result file.
 *
 *   node build/bench/engineChild.js '{"way":"program","op":"up","workDir":"...","resultFile":"..."}'
 *
 * The backend, passphrase, KUBECONFIG and any setting under test come in the environment.
 */
import { writeFileSync } from "node:fs";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { PROJECT, STACK } from "./scenario";

export type EngineWay = "program" | "bare";
export type EngineOp = "up" | "preview" | "destroy";

export interface ChildSpec {
    way: EngineWay;
    op: EngineOp;
    workDir: string;
    resultFile: string;
    /** The engine's `parallel` option; the CLI's default when absent. */
    parallel?: number;
}

/** Wall-clock instants (ms since the epoch) in this process, and what the engine reported. */
export interface ChildMarks {
    /** Node started this process. */
    processStart: number;
    /** The Automation API and the program's modules are loaded (compiled, with ts-node). */
    loaded: number;
    /** The workspace is ready: `pulumi version` and `pulumi stack select` have run. */
    workspaceReady: number;
    /** up(), preview() or destroy() called. */
    opCalled: number;
    /** The engine ran the program: its function entered and returned (absent for destroy). */
    programEntered?: number;
    programReturned?: number;
    /** The operation returned: the CLI has exited. */
    opDone: number;
    /** Resource operations by kind, as the engine's summary counts them. */
    changes: Record<string, number>;
}

async function main(): Promise<void> {
    const spec = JSON.parse(process.argv[2]) as ChildSpec;
    const marks: Partial<ChildMarks> = { processStart: performance.timeOrigin };
    // Loaded here, not imported at the top, so that the bare way never loads index.ts.
    const declare = (spec.way === "program" ? require("../index") : require("./baseline")) as () => Promise<Record<string, unknown>>;
    marks.loaded = Date.now();
    const program = async () => {
        marks.programEntered = Date.now();
        const outputs = await declare();
        marks.programReturned = Date.now();
        return outputs;
    };
    const stack = await LocalWorkspace.selectStack({ stackName: STACK, projectName: PROJECT, program }, { workDir: spec.workDir });
    marks.workspaceReady = Date.now();
    const opts = { parallel: spec.parallel, color: "never" as const };
    marks.opCalled = Date.now();
    switch (spec.op) {
        case "up":
            marks.changes = (await stack.up(opts)).summary.resourceChanges ?? {};
            break;
        case "preview":
            marks.changes = (await stack.preview(opts)).changeSummary;
            break;
        case "destroy":
            marks.changes = (await stack.destroy(opts)).summary.resourceChanges ?? {};
            break;
    }
    marks.opDone = Date.now();
    writeFileSync(spec.resultFile, JSON.stringify(marks));
}

main().catch((err) => {
    process.stderr.write(`engine run failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
});
