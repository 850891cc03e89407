/**
 * The random provider scripts/pulumi-toolchain.sh assembles (toolchain/pulumi-random) against the
 * SDK the program is written with: the schema the CLI gets from the plugin declares every resource
 * @pulumi/random declares, with the inputs and outputs its types give, and RandomPassword's result
 * and bcrypt hash secret. (What it generates on the real engine: engine.test.ts, pull.test.ts.)
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT } from "../../deploy/engine";
import { ENV } from "./support/engine";

interface Schema {
    name: string;
    version: string;
    resources: Record<string, { properties: Record<string, { secret?: boolean }>; inputProperties?: Record<string, unknown> }>;
}

const SDK = path.join(ROOT, "node_modules", "@pulumi", "random");

/** A resource class's outputs and its Args interface's inputs, read from the SDK's .d.ts. */
function sdkProperties(className: string): { outputs: string[]; inputs: string[] } {
    const dts = readFileSync(path.join(SDK, `${className[0].toLowerCase()}${className.slice(1)}.d.ts`), "utf8");
    const outputs = [...dts.matchAll(/^\s+readonly (\w+): pulumi\.Output/gm)].map((m) => m[1]);
    const args = dts.split(`export interface ${className}Args {`)[1].split("\n}")[0];
    return { outputs: outputs.sort(), inputs: [...args.matchAll(/^\s+(\w+)\??: /gm)].map((m) => m[1]).sort() };
}

describe("the random provider built here, against @pulumi/random", function () {
    this.timeout(120000);
    let schema: Schema;
    const version = (JSON.parse(readFileSync(path.join(SDK, "package.json"), "utf8")) as { version: string }).version;

    before(async () => {
        const text = await new Promise<string>((resolve, reject) =>
            execFile("pulumi", ["package", "get-schema", `random@${version}`], { env: { ...process.env, ...ENV }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
                err ? reject(new Error(`pulumi package get-schema random@${version}: ${stderr}`)) : resolve(stdout),
            ),
        );
        schema = JSON.parse(text) as Schema;
    });

    it("is the lockfile's release", () => {
        assert.equal(schema.name, "random");
        assert.equal(schema.version, version);
    });

    it("declares exactly the resource tokens the SDK registers", () => {
        const tokens = [...readFileSync(path.join(SDK, "index.js"), "utf8").matchAll(/case "(random:[^"]+)"/g)].map((m) => m[1]).sort();
        assert.ok(tokens.length >= 10, `the SDK's index.js names only ${tokens.length} resources`);
        assert.deepEqual(Object.keys(schema.resources).sort(), tokens);
    });

    it("gives every resource the inputs and outputs the SDK's types declare", () => {
        for (const [token, resource] of Object.entries(schema.resources)) {
            const sdk = sdkProperties(token.split(":")[2]);
            assert.deepEqual(Object.keys(resource.properties).sort(), sdk.outputs, `${token} outputs`);
            assert.deepEqual(Object.keys(resource.inputProperties ?? {}).sort(), sdk.inputs, `${token} inputs`);
        }
    });

    it("makes RandomPassword's result and bcryptHash secret", () => {
        const p = schema.resources["random:index/randomPassword:RandomPassword"].properties;
        assert.equal(p.result.secret, true);
        assert.equal(p.bcryptHash.secret, true);
    });
});
