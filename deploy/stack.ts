/**
 * `npm run stack -- <preview|up|refresh|destroy> <stack>`: the Pulumi CLI's own commands for a
 * stack of stacks/, with the program run in-process (deploy/engine.ts). It is for machines whose
 * Pulumi CLI was built from Go modules and has no pulumi-language-nodejs; with an installed CLI,
 * `pulumi <command> --stack <stack>` does the same. KUBECONFIG and PULUMI_CONFIG_PASSPHRASE are
 * read from the environment, as the CLI reads them.
 */
import { projectStack } from "./engine";

const COMMANDS = ["preview", "up", "refresh", "destroy"] as const;

async function main([command, stackName]: string[]): Promise<void> {
    if (!COMMANDS.includes(command as (typeof COMMANDS)[number]) || !stackName) {
        throw new Error(`usage: npm run stack -- <${COMMANDS.join("|")}> <stack>`);
    }
    const stack = await projectStack(stackName);
    const opts = { onOutput: (out: string) => process.stdout.write(out), color: "auto" as const };
    switch (command) {
        case "preview":
            await stack.preview({ ...opts, diff: true });
            break;
        case "up":
            await stack.up(opts);
            break;
        case "refresh":
            await stack.refresh(opts);
            break;
        case "destroy":
            await stack.destroy(opts);
            break;
    }
}

main(process.argv.slice(2)).catch((err: unknown) => {
    // The engine has printed its own diagnostics; this line says that the command failed.
    process.stderr.write(`stack: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}\n`);
    process.exitCode = 1;
});
