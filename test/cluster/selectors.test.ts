/**
 * The API server is the oracle for label selectors: for each case of test/labelSelector.test.ts, a
 * namespace with the case's labels is listed by `kubectl get namespaces -l <selector>` exactly
 * when components/labelSelector.ts says it matches.
 */
import * as assert from "node:assert/strict";
import { matchesSelector, selectorString } from "../../components/labelSelector";
import { SELECTOR_CASES } from "../support/selectorCases";
import { kubectl } from "./support/cluster";
import { suiteNamespaces } from "./support/names";

describe("label selectors: ours and the API server's", function () {
    this.timeout(120000);
    const namespace = suiteNamespaces();

    it("every case lists the namespace exactly when we say it matches", async () => {
        const cases = SELECTOR_CASES.map((c) => ({ ...c, name: namespace("sel") }));
        // Every case's namespace also carries `suite=<first name>`, so each list sees only this run's.
        const suite = cases[0].name;
        await kubectl(
            ["apply", "-f", "-"],
            JSON.stringify({ apiVersion: "v1", kind: "List", items: cases.map((c) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name: c.name, labels: { ...c.labels, "registry-access.test/suite": suite } } })) }),
        );
        for (const c of cases) {
            const selector = [selectorString(c.selector), `registry-access.test/suite=${suite}`].filter(Boolean).join(",");
            const listed = (await kubectl(["get", "namespaces", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"])).split(/\s+/).filter(Boolean);
            const ours = cases.filter((other) => matchesSelector(c.selector, other.labels)).map((other) => other.name);
            assert.deepEqual(listed.sort(), ours.sort(), selector);
            assert.equal(listed.includes(c.name), c.matches, `${selector} on ${JSON.stringify(c.labels)}`);
        }
    });
});
