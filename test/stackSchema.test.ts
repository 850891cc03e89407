import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { SCHEMA_FILE, schemaText } from "../check/schema";

const ROOT = path.resolve(__dirname, "../..");
const MODELINE = "# yaml-language-server: $schema=../schema/stack.schema.json";

describe("the stack file's JSON Schema (schema/stack.schema.json)", () => {
    it("is what npm run schema generates from the config schema now", () => {
        // A key or description changed in components/config without `npm run schema` fails here.
        assert.equal(readFileSync(SCHEMA_FILE, "utf8"), schemaText(), "run npm run schema and commit schema/stack.schema.json");
    });

    it("is named by the modeline on the first line of every stack file in stacks/", () => {
        const files = readdirSync(path.join(ROOT, "stacks")).filter((f) => /^Pulumi\..+\.yaml$/.test(f));
        assert.ok(files.length > 0);
        for (const f of files) {
            assert.equal(readFileSync(path.join(ROOT, "stacks", f), "utf8").split("\n")[0], MODELINE, f);
        }
    });
});
