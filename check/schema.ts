/**
 * `npm run schema`: writes the JSON Schema of a stack file (components/config/jsonSchema.ts) to
 * schema/stack.schema.json, where each stack file's modeline points editors to it, and the README's
 * config reference (check/reference.ts). A test fails when either differs from a fresh generation.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stackFileJsonSchema } from "../components/config/jsonSchema";
import { configReference, withReference } from "./reference";

export const SCHEMA_FILE = path.resolve(__dirname, "../../schema/stack.schema.json");
export const README = path.resolve(__dirname, "../../README.md");

export const schemaText = (): string => `${JSON.stringify(stackFileJsonSchema(), null, 2)}\n`;

if (require.main === module) {
    writeFileSync(SCHEMA_FILE, schemaText());
    writeFileSync(README, withReference(readFileSync(README, "utf8"), configReference()));
    process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)} and the config reference in ${path.relative(process.cwd(), README)}\n`);
}
