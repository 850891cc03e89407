/**
 * The program's entry point as Pulumi's Node runner reports its failure: a RunError (config
 * problems, failed credential checks) is printed as its message alone; any other error would be
 * printed with its whole stack, through the SDK's and Node's frames. So any other error becomes a
 * RunError too: its message, and the frames of this project's own files, where it was thrown.
 */
import * as pulumi from "@pulumi/pulumi";

/** The stack's lines that point into the project: not into node_modules, not into Node itself. */
function ownFrames(stack: string | undefined): string[] {
    return (stack ?? "")
        .split("\n")
        .filter((line) => /^\s+at /.test(line) && !/node_modules|node:internal|\(node:/.test(line))
        .map((line) => `    ${line.trim()}`);
}

export function reported<T>(main: () => Promise<T>): () => Promise<T> {
    return async () => {
        try {
            return await main();
        } catch (err) {
            if (!(err instanceof Error)) {
                throw err;
            }
            const name = err.name === "Error" || err instanceof pulumi.RunError ? "" : `${err.name}: `;
            const run = err instanceof pulumi.RunError ? err : new pulumi.RunError([`${name}${err.message}`, ...ownFrames(err.stack)].join("\n"));
            // Pulumi's runner prints a RunError's message only, but also formats the error whole
            // with util.inspect for its trace span: with a stack, that maps every frame through
            // ts-node's source maps, which took half a minute for a config error.
            run.stack = run.message;
            throw run;
        }
    };
}
