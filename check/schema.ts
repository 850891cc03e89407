/**
 * `npm run schema`: writes the JSON Schema of a stack file (components/config/jsonSchema.ts) to
 * schema/stack.schema.json, where each stack file's modeline points editors to it. A test fails
 * when the committed file differs from a fresh generation.
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { stackFileJsonSchema } from "../components/config/jsonSchema";

export const SCHEMA_FILE = path.resolve(__dirname, "../../schema/stack.schema.json");

export const schemaText = (): string => `${JSON.stringify(stackFileJsonSchema(), null, 2)}\n`;

if (require.main === module) {
    writeFileSync(SCHEMA_FILE, schemaText());
    process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
}
