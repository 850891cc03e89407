/**
 * Runs index.ts once under Pulumi's mocks, in a process of its own, and writes what it declared
 * to the JSON file named by MOCKED_PROGRAM_OUT. Pulumi's runtime state is process-global, so
 * every config scenario gets a fresh process (see runProgram.ts).
 *
 * Scenario (JSON in MOCKED_PROGRAM_SCENARIO): { config, secretKeys, stack }.
 */
import * as pulumi from "@pulumi/pulumi";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { mockState } from "./mocks";

export interface DeclaredResource {
    type: string;
    name: string;
    urn: string;
    custom: boolean;
    /** Inputs as the mock monitor received them: secrets arrive wrapped (see secrets.ts). */
    inputs: Record<string, unknown>;
    parent?: string;
    dependsOn: string[];
    protect: boolean;
    retainOnDelete: boolean;
}

export interface Declared {
    resources: DeclaredResource[];
    /** Stack outputs as the engine would store them (secrets wrapped). */
    outputs: Record<string, unknown>;
    error?: { name: string; message: string; stack?: string };
}

interface Scenario {
    config: Record<string, string>;
    secretKeys: string[];
    stack: string;
}

async function main(): Promise<void> {
    const scenario = JSON.parse(process.env.MOCKED_PROGRAM_SCENARIO ?? "{}") as Scenario;
    const inputsByName = new Map<string, { inputs: Record<string, unknown>; custom: boolean }>();
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                inputsByName.set(`${args.type}::${args.name}`, { inputs: args.inputs, custom: args.custom ?? true });
                return { id: args.custom ? `${args.name}-id` : undefined, state: mockState(args.type, args.name, args.inputs) };
            },
            call(args) {
                throw new Error(`unexpected invoke ${args.token}`);
            },
        },
        "registry-access",
        scenario.stack,
        false,
    );
    pulumi.runtime.setAllConfig(scenario.config, scenario.secretKeys);

    // A failing program also rejects the stack's pending outputs; Pulumi's own runner reports
    // that once, as the program's error, and so does this harness.
    const unhandled: unknown[] = [];
    process.on("unhandledRejection", (reason) => unhandled.push(reason));

    const seen: { resource: pulumi.Resource; type: string; name: string; opts: pulumi.ResourceOptions }[] = [];
    const result: Declared = { resources: [], outputs: {} };
    try {
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                seen.push({ resource: args.resource, type: args.type, name: args.name, opts: args.opts });
                return undefined;
            });
            const program = require(path.join(__dirname, "..", "..", "index"));
            return typeof program === "function" ? program() : program;
        });
    } catch (err) {
        const e = err as Error;
        result.error = { name: e.constructor?.name ?? e.name, message: e.message, stack: e.stack };
    }

    const urnOf = (r: pulumi.Resource) => resolve(r.urn);
    for (const { resource, type, name, opts } of seen) {
        // The URN resolves once the mock monitor has registered the resource and seen its inputs.
        const urn = await urnOf(resource);
        const deps = await resolve(opts.dependsOn ?? []);
        const recorded = inputsByName.get(`${type}::${name}`);
        result.resources.push({
            type,
            name,
            urn,
            custom: recorded?.custom ?? false,
            inputs: recorded?.inputs ?? {},
            parent: opts.parent ? await urnOf(opts.parent) : undefined,
            dependsOn: await Promise.all((Array.isArray(deps) ? deps : [deps]).map(async (d) => urnOf(await resolve(d)))),
            // The SDK's effective value, which it registers: given, or inherited from the parent.
            protect: (resource as unknown as { __protect?: boolean }).__protect ?? false,
            retainOnDelete: opts.retainOnDelete ?? false,
        });
    }
    result.outputs = stackOutputs();
    await new Promise((resolve) => setImmediate(resolve));
    const other = unhandled.find((e) => (e as Error)?.message !== result.error?.message);
    if (other !== undefined) {
        result.error ??= { name: "UnhandledRejection", message: String((other as Error)?.message ?? other) };
    }
    writeFileSync(process.env.MOCKED_PROGRAM_OUT ?? "/dev/stdout", JSON.stringify(result));
}

/** The plain value of an Input (an Output's internal promise, as the SDK itself awaits it). */
async function resolve<T>(input: pulumi.Input<T>): Promise<T> {
    return pulumi.Output.isInstance(input) ? ((input as unknown as { promise(): Promise<T> }).promise()) : input;
}

/** The root stack's registered outputs, read from the mock monitor as the engine would persist them. */
function stackOutputs(): Record<string, unknown> {
    const monitor = pulumi.runtime.getMonitor() as unknown as {
        resources: Map<string, { urn: string; state: unknown }>;
    };
    for (const [urn, r] of monitor.resources) {
        if (urn.includes("::pulumi:pulumi:Stack::")) {
            const state = r.state as { toJavaScript?: () => Record<string, unknown> };
            return state.toJavaScript ? state.toJavaScript() : (state as Record<string, unknown>);
        }
    }
    return {};
}

main().catch((err) => {
    process.stderr.write(`mocked program harness failed: ${(err as Error).stack}\n`);
    process.exit(2);
});
