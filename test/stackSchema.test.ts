import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { configReference, withReference } from "../check/reference";
import { README, SCHEMA_FILE, schemaText } from "../check/schema";
import { TENANT_KEYS } from "../components/config/schema";

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

describe("the README's config reference", () => {
    const readme = readFileSync(README, "utf8");

    it("is what npm run schema generates from the config schema now", () => {
        // A key, type, default or description changed on either side alone fails here.
        assert.equal(withReference(readme, configReference()), readme, "run npm run schema and commit README.md");
    });

    it("has a row for every key a stack file may hold, registries' and the Container Service's included", () => {
        const reference = configReference();
        for (const key of [...TENANT_KEYS, "tenants", "sharedRegistries", "combinedPullSecret", "server", "password", "generatePassword", "apiServer", "tokenRotation", "kubernetes:kubeconfig"]) {
            assert.match(reference, new RegExp(`^\\| \`${key}\` \\|`, "m"), key);
        }
        assert.match(reference, /^\| `generatePassword` \| boolean, or map \| {2}\|/m);
        assert.match(reference, /^\| `password` \| secret \| {2}\|/m);
        assert.match(reference, /^\| `serviceAccounts` \| `"\*"`, or list of names \| `\["default"\]` \| The ServiceAccounts whose imagePullSecrets list the Secrets, or "\*": /m);
    });

    it("stops npm run schema when the README has lost its markers", () => {
        assert.throws(() => withReference("# no markers\n", "x"), /config reference markers/);
    });
});
