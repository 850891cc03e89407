/**
 * Label selectors matched as the API server matches them (k8s.io/apimachinery labels.Requirement):
 * each operator's rule, matchLabels as equality, an empty selector matching everything. The same
 * cases run against a real API server in test/cluster/selectors.test.ts.
 */
import * as assert from "node:assert/strict";
import { matchesSelector, selectorString } from "../components/labelSelector";
import { SELECTOR_CASES } from "./support/selectorCases";

describe("label selectors, as the API server matches them", () => {
    for (const c of SELECTOR_CASES) {
        it(`${c.string || "(empty)"} ${c.matches ? "matches" : "does not match"} ${JSON.stringify(c.labels)}`, () => {
            assert.equal(matchesSelector(c.selector, c.labels), c.matches);
            assert.equal(selectorString(c.selector), c.string);
        });
    }
});
